// Package service is `roomcast serve`'s core: it takes the API's calls
// (worker/api's Service), keeps every job durably in a Store (JetStream,
// worker/store), runs each job through a Runner (a child process per job,
// worker/runner), admits jobs by their measured cost, and pushes every state
// change as an event and a signed webhook.
//
// The Store and the Runner are interfaces declared here, so that the fleet
// (several nodes on one NATS cluster) can place and reach jobs elsewhere
// without the API or this package changing shape.
//
// A job's record holds its config (secrets included: the service needs them
// to run it, and the record never leaves the store) and its state (secrets
// masked, as everywhere else). State changes reach the record, the event log
// and the webhook outbox from one goroutine per job, in order.
package service
