// Package fleet is what makes several `roomcast serve` nodes on one NATS
// cluster one service: it owns the node registry, the job leases and the
// request-reply plane between nodes. The service (worker/service) decides
// what to do with them: where a job goes, when an orphan is taken over.
//
// What lives where:
//   - the registry (KV roomcast_nodes, key = node name): each node's
//     capacity, load, jobs and drain flag, put again every heartbeat. The
//     bucket's entries expire (TTL), so a node that stops beating leaves
//     the registry by itself, whatever killed it.
//   - leases (KV roomcast_leases, key = job id, value = node name): a job
//     runs only on the node holding its lease. Taking one is a KV create,
//     so of two nodes that race for an orphan exactly one wins; keeping it
//     is a compare-and-set on its revision every heartbeat, which is the
//     fencing: a node cut off for longer than the TTL finds its revision
//     stale when it comes back, and learns it lost the job.
//   - calls (subjects roomcast.node.<name>.<op>): a node asks another to
//     start, stop, change, describe or adopt a job, or to read its files.
//
// Nothing here is needed on one node: without a cluster the service runs
// alone, as before.
package fleet
