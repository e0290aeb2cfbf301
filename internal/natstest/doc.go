// Package natstest runs a real nats-server cluster on loopback for tests:
// N child processes of the nats-server v2.15.2 binary that
// scripts/install-deps.sh installs at $(go env GOPATH)/bin/nats-server,
// each with JetStream on its own store directory, joined by cluster routes.
// Tests kill and restart nodes, and ask which node leads a stream or the
// JetStream meta group, to show what the fleet does when NATS loses a node.
package natstest
