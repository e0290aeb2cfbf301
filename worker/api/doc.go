// Package api is the job service's HTTP interface, as docs/openapi.json
// describes it: the contract's calls (startRtmpOrRecording as POST /v1/jobs,
// stopRtmpAndRecording as POST /v1/rooms/stop, the room view), job control,
// Server-Sent Events, the jobs' files, webhook deliveries, and health.
//
// It owns the transport only: bearer-token auth, body limits, error bodies
// ({"code","message","fields"}), status codes and streaming. What a call does
// is the Service's, an interface declared here and implemented by the
// service that runs the jobs.
//
// Every route is in one table (Routes), with whether it is public, so that a
// test can walk it and a new route cannot be added without auth by mistake.
package api
