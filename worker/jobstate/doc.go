// Package jobstate holds a job's state in the contract's schema (the
// state object of status.json, the API and webhooks), its error object and
// codes. It imports no FFmpeg: the service, its API and the job runner's
// parent side use it, and run in a process that never loads FFmpeg.
package jobstate
