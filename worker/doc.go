// Package worker owns a job's lifecycle: it joins the room, runs a receive
// pipeline per track into the compositor, encodes once and fans the packets
// out to the outputs the job asked for, and keeps the job's state in the
// contract's schema (status.json, state-change events). A Manager holds the
// jobs of one process and enforces the contract's start and stop rules.
package worker
