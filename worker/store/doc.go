// Package store is the job service's durable state, on NATS JetStream: job
// records, the one-job-per-room claims, idempotency keys, each job's event
// log and the webhook outbox. It owns the NATS connection and, by default,
// the NATS server too, embedded in the process (no socket unless asked for,
// no signal handling, explicit memory and disk limits). Given URLs it uses
// an existing cluster instead, which is what a fleet of nodes shares: every
// guarantee below holds across processes, not only within one.
//
// What lives where:
//   - jobs (KV roomcast_jobs, key = job id): one record per job with a
//     revision; UpdateJob is a compare-and-set on it, the fencing a fleet's
//     job leases build on.
//   - room claims (KV roomcast_rooms, key = hash of the meetingUrl): a KV
//     create, so of two racing claims exactly one wins.
//   - idempotency keys (KV roomcast_idempotency, entries expire after 24 h).
//   - event logs (stream ROOMCAST_EVENTS, subject roomcast.events.<job>):
//     an event's id is its stream sequence, so a resume from Last-Event-ID
//     is a consumer starting after that sequence.
//   - the webhook outbox (work-queue stream ROOMCAST_OUTBOX, subject
//     roomcast.outbox.<job>, one durable consumer roomcast_webhooks shared by
//     every node) and the deliveries that failed for good (KV
//     roomcast_failed_deliveries, key = delivery id).
//
// Retries are the consumer's own: a failed attempt is nak'ed with a delay
// of 1 s, 3 s, 10 s (Config.Backoff), and the server offers the delivery
// again when it is over, to whichever node asks, so a pending delivery
// survives a restart or a dead node. (Why a nak delay rather than the
// consumer's BackOff field: see the consumer's config in store.go.)
//
// Order per job. A job's deliveries must go out in order, and a job waiting
// on a retry must not hold up other jobs. One consumer with MaxAckPending 1
// would order them but serialize every job behind any retry; a consumer per
// job would need creating, finding and deleting consumers as jobs come and
// go on every node. Instead the one consumer offers deliveries freely and
// the order is kept at delivery time: the outbox is a work queue (an acked
// delivery leaves the stream), so a job's oldest message still in the stream
// is the one whose turn it is. A delivery whose job has an older one queued
// (waiting for a retry, or being tried on another node) waits, reporting
// progress so its server timer doesn't fire, until that one is acked (woken
// at once by acks in this process, and by polling the stream's leader for
// acks made elsewhere). Waiting uses up no attempt.
//
// Delivery is at least once: a node that loses NATS in mid-attempt may see
// its delivery offered elsewhere too. Receivers deduplicate by the delivery
// id (Standard Webhooks' webhook-id), which stays the same across attempts.
package store
