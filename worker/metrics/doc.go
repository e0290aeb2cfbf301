// Package metrics turns the service's figures into Prometheus metrics.
//
// Nothing is counted here: at each scrape the Collector asks the service
// for its figures (service.Figures) and reports them, so a job's hot path
// does no work for metrics, and what /metrics says is what the job's state
// says. Per-job series carry the job id and exist while the job runs.
package metrics
