// Package s3test runs a real S3-compatible server for tests: the Versity S3
// Gateway (versitygw) with its posix backend, on a free loopback port in a
// temporary folder. It can be killed and restarted on the same port and
// folder (an outage mid-upload), and it gives the credentials the way the
// AWS conventions do, through the environment. A missing binary fails the
// test with the command that installs it.
package s3test
