package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/worker/service"
)

// Source gives the figures a scrape reports; *service.Service is one.
type Source interface {
	Figures(ctx context.Context) (service.Figures, error)
}

// scrapeTimeout bounds one scrape's wait for the figures.
const scrapeTimeout = 3 * time.Second

// Collector is a prometheus.Collector of a Source's figures.
type Collector struct {
	src Source

	up, jobs, capacity, used, refused, webhooks, outbox, endedCPU *prometheus.Desc
	jobCPU, fps, frames, late, dropped, duplicated, events        *prometheus.Desc
	outBytes, outReconnects, outErrors, outDropped, outQueued     *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a Collector of src's figures.
func New(src Source) *Collector {
	job := []string{"job"}
	out := []string{"job", "output"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("roomcast_"+name, help, labels, nil)
	}
	return &Collector{
		src:      src,
		up:       d("figures_up", "1 if the service's figures could be read at this scrape, else 0.", nil),
		jobs:     d("jobs", "Jobs on record, by state.", []string{"state"}),
		capacity: d("admission_capacity_cores", "CPU cores admission hands out to jobs.", nil),
		used:     d("admission_used_cores", "CPU cores handed out to the running jobs, by the cost model.", nil),
		refused:  d("admission_refused_total", "Job starts refused for want of capacity (503 NO_CAPACITY).", nil),
		webhooks: d("webhook_deliveries_total", "Webhook delivery attempts, by outcome: delivered, retried (failed, retry to come) and failed (the last attempt failed).", []string{"outcome"}),
		outbox:   d("webhook_outbox_depth", "Webhook deliveries waiting in the outbox, retries included.", nil),
		endedCPU: d("ended_jobs_cpu_seconds_total", "CPU seconds used by the jobs that ended in this process.", nil),

		jobCPU:     d("job_cpu_seconds_total", "CPU seconds used by a running job's process.", job),
		fps:        d("job_encode_fps", "Frames a running job encoded per second, recently.", job),
		frames:     d("job_frames_total", "Frames a running job encoded.", job),
		late:       d("job_late_frames_total", "Frames that started more than a frame late: the machine could not keep up.", job),
		dropped:    d("job_dropped_frames_total", "Source pictures dropped from a full queue before their time.", job),
		duplicated: d("job_duplicated_frames_total", "Frames that repeat the last picture because no source had a new one.", job),
		events:     d("job_event_queue_depth", "State changes waiting to be stored and published.", job),

		outBytes:      d("output_bytes_total", "Bytes an output delivered.", out),
		outReconnects: d("output_reconnects_total", "Times an output reconnected after losing its connection.", out),
		outErrors:     d("output_errors_total", "Errors an output hit.", out),
		outDropped:    d("output_dropped_packets_total", "Packets an output dropped because it fell behind.", out),
		outQueued:     d("output_queue_packets", "Packets waiting in an output's queue.", out),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.jobs, c.capacity, c.used, c.refused, c.webhooks, c.outbox, c.endedCPU,
		c.jobCPU, c.fps, c.frames, c.late, c.dropped, c.duplicated, c.events,
		c.outBytes, c.outReconnects, c.outErrors, c.outDropped, c.outQueued,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	f, err := c.src.Figures(ctx)
	if err != nil {
		// The process metrics still go out; this says the rest could not.
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for state, n := range f.Jobs {
		gauge(c.jobs, float64(n), string(state))
	}
	gauge(c.capacity, f.CapacityCores)
	gauge(c.used, f.UsedCores)
	counter(c.refused, float64(f.Refused))
	for outcome, n := range f.Webhooks {
		counter(c.webhooks, float64(n), outcome)
	}
	gauge(c.outbox, float64(f.OutboxDepth))
	counter(c.endedCPU, f.EndedCPU.Seconds())
	for _, j := range f.Running {
		st := j.Stats
		counter(c.jobCPU, j.CPU.Seconds(), j.ID)
		gauge(c.fps, st.FPS, j.ID)
		counter(c.frames, float64(st.Frames), j.ID)
		counter(c.late, float64(st.LateFrames), j.ID)
		counter(c.dropped, float64(st.DroppedFrames), j.ID)
		counter(c.duplicated, float64(st.DuplicatedFrames), j.ID)
		gauge(c.events, float64(j.EventQueue), j.ID)
		for _, o := range st.Outputs {
			counter(c.outBytes, float64(o.Bytes), j.ID, o.Name)
			counter(c.outReconnects, float64(o.Reconnects), j.ID, o.Name)
			counter(c.outErrors, float64(o.Errors), j.ID, o.Name)
			counter(c.outDropped, float64(o.DroppedPackets), j.ID, o.Name)
			gauge(c.outQueued, float64(o.QueuedPackets), j.ID, o.Name)
		}
	}
}
