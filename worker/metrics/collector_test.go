package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/service"
)

type figures struct {
	f   service.Figures
	err error
}

func (s figures) Figures(context.Context) (service.Figures, error) { return s.f, s.err }

func TestCollect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   figures
		names []string
		want  string
	}{
		{
			name:  "a running job with two outputs",
			names: []string{"roomcast_figures_up", "roomcast_jobs", "roomcast_job_cpu_seconds_total", "roomcast_job_duplicated_frames_total", "roomcast_output_errors_total", "roomcast_output_queue_packets", "roomcast_webhook_deliveries_total"},
			src: figures{f: service.Figures{
				Jobs: map[worker.Phase]int{worker.Running: 1, worker.Stopped: 4},
				Running: []service.JobFigures{{ID: "j1", CPU: 1500 * time.Millisecond, Stats: worker.Stats{
					DuplicatedFrames: 7,
					Outputs: []worker.OutputStats{
						{Name: "recording", Bytes: 100, QueuedPackets: 2},
						{Name: "rtmp:1", Errors: 3, Reconnects: 3},
					},
				}}},
				Webhooks: map[string]uint64{"delivered": 9, "retried": 2, "failed": 0},
			}},
			want: `
# HELP roomcast_figures_up 1 if the service's figures could be read at this scrape, else 0.
# TYPE roomcast_figures_up gauge
roomcast_figures_up 1
# HELP roomcast_jobs Jobs on record, by state.
# TYPE roomcast_jobs gauge
roomcast_jobs{state="running"} 1
roomcast_jobs{state="stopped"} 4
# HELP roomcast_job_cpu_seconds_total CPU seconds used by a running job's process.
# TYPE roomcast_job_cpu_seconds_total counter
roomcast_job_cpu_seconds_total{job="j1"} 1.5
# HELP roomcast_job_duplicated_frames_total Frames that repeat the last picture because no source had a new one.
# TYPE roomcast_job_duplicated_frames_total counter
roomcast_job_duplicated_frames_total{job="j1"} 7
# HELP roomcast_output_errors_total Errors an output hit.
# TYPE roomcast_output_errors_total counter
roomcast_output_errors_total{job="j1",output="recording"} 0
roomcast_output_errors_total{job="j1",output="rtmp:1"} 3
# HELP roomcast_output_queue_packets Packets waiting in an output's queue.
# TYPE roomcast_output_queue_packets gauge
roomcast_output_queue_packets{job="j1",output="recording"} 2
roomcast_output_queue_packets{job="j1",output="rtmp:1"} 0
# HELP roomcast_webhook_deliveries_total Webhook delivery attempts, by outcome: delivered, retried (failed, retry to come) and failed (the last attempt failed).
# TYPE roomcast_webhook_deliveries_total counter
roomcast_webhook_deliveries_total{outcome="delivered"} 9
roomcast_webhook_deliveries_total{outcome="failed"} 0
roomcast_webhook_deliveries_total{outcome="retried"} 2
`,
		},
		{
			name:  "figures unavailable",
			names: []string{"roomcast_figures_up", "roomcast_jobs"},
			src:   figures{err: errors.New("store down")},
			want: `
# HELP roomcast_figures_up 1 if the service's figures could be read at this scrape, else 0.
# TYPE roomcast_figures_up gauge
roomcast_figures_up 0
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(New(tc.src), strings.NewReader(tc.want), tc.names...); err != nil {
				t.Error(err)
			}
		})
	}
}
