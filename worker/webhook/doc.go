// Package webhook pushes job events to a backend's HTTP endpoints, signed as
// the Standard Webhooks specification says (webhook-id, webhook-timestamp and
// webhook-signature headers; an HMAC-SHA256 over "id.timestamp.body" keyed by
// the base64 part of a whsec_ secret), so that a receiver's existing library
// verifies them.
//
// It owns one attempt of one delivery: signing, the POST with its timeouts,
// and telling a delivered message from one to try again. Retries, their
// backoff and their durability belong to the service's outbox, which calls
// Send once per attempt with the same id and a fresh timestamp.
package webhook
