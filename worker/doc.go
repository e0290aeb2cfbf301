// Package worker owns a job's lifecycle: it joins the room, runs a receive
// pipeline per track into the compositor, encodes once and fans the packets
// out to the outputs the job asked for, and keeps the job's state in the
// contract's schema (status.json, state-change events). A Manager holds the
// jobs of one process and enforces the contract's start and stop rules.
//
// Each job's state belongs to one goroutine, its loop (loop.go). The Job's
// methods are requests to it and the media graph's goroutines send it notes,
// so a Job can be driven from any goroutine (an API's handlers) at any
// point of its life. The media graph (graph.go) is built whole before any of
// its goroutines start and is closed in one fixed order.
package worker
