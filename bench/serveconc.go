package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// realTimeFPS and maxLateShare say when a 30 fps job held real time.
const (
	realTimeFPS  = 29.5
	maxLateShare = 0.01
)

// fileJob is the bench's 4-peer 720p30 recording of a file room.
func fileJob(manifest string, d time.Duration) config.Job {
	return config.Job{
		MeetingURL:  "file:" + manifest,
		Record:      true,
		Resolution:  config.Resolution{Width: 1280, Height: 720},
		FPS:         30,
		MaxDuration: config.Duration(d),
	}
}

// jobRun is how one job through serve went.
type jobRun struct {
	id     string
	fps    float64 // output frames per wall second while it ran, its first 2 s of output left out
	late   float64 // share of its frames that came late
	frames int64
	err    error
}

func (r jobRun) realTime() bool {
	return r.err == nil && r.fps >= realTimeFPS && r.late <= maxLateShare
}

// runThroughServe starts one job per manifest at once and follows each
// until it ends: frames over wall time from its polled state while it runs,
// late frames from its final state.
func runThroughServe(ctx context.Context, s *serveProc, manifests []string, d time.Duration) []jobRun {
	runs := make([]jobRun, len(manifests))
	var wg sync.WaitGroup
	for i, mf := range manifests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = followJob(ctx, s, fileJob(mf, d), d)
		}()
	}
	wg.Wait()
	return runs
}

func followJob(ctx context.Context, s *serveProc, cfg config.Job, d time.Duration) jobRun {
	st, err := s.startJob(ctx, cfg)
	if err != nil {
		return jobRun{err: fmt.Errorf("POST /v1/jobs: %w", err)}
	}
	r := jobRun{id: st.ID}
	var firstAt, lastAt time.Time
	var firstFrames, lastFrames int64
	deadline := time.Now().Add(d + 60*time.Second)
	for {
		at := time.Now()
		st, err = s.client.Job(ctx, r.id)
		if err != nil {
			r.err = fmt.Errorf("GET /v1/jobs/%s: %w", r.id, err)
			return r
		}
		if st.State == worker.Stopped || st.State == worker.Failed {
			break
		}
		if st.State == worker.Running && st.Stats.Elapsed >= 2 {
			if firstAt.IsZero() {
				firstAt, firstFrames = at, st.Stats.Frames
			}
			lastAt, lastFrames = at, st.Stats.Frames
		}
		if at.After(deadline) {
			r.err = fmt.Errorf("job %s still %s %s after its end", r.id, st.State, d+60*time.Second)
			return r
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st.State == worker.Failed {
		r.err = fmt.Errorf("job %s failed: %v %s", r.id, st.Error, st.Reason)
		return r
	}
	r.frames = st.Stats.Frames
	if r.frames > 0 {
		r.late = float64(st.Stats.LateFrames) / float64(r.frames)
	}
	if w := lastAt.Sub(firstAt).Seconds(); w >= 1 {
		r.fps = float64(lastFrames-firstFrames) / w
	} else {
		r.err = fmt.Errorf("job %s: under a second of running output to measure its frame rate", r.id)
	}
	return r
}

// serveRound runs one job through serve per manifest at once; they held
// real time if each kept realTimeFPS and had at most maxLateShare late.
func serveRound(ctx context.Context, s *serveProc, manifests []string) (notes []string, ok bool) {
	n := len(manifests)
	runs := runThroughServe(ctx, s, manifests, concurrentDuration)
	worstFPS, worstLate, ok := 1000.0, 0.0, true
	for i, r := range runs {
		if r.err != nil {
			notes = append(notes, fmt.Sprintf("%d concurrent jobs through serve: job %d: %v", n, i, r.err))
			ok = false
			continue
		}
		worstFPS, worstLate = min(worstFPS, r.fps), max(worstLate, r.late)
		ok = ok && r.realTime()
	}
	if worstFPS < 1000 {
		notes = append(notes, fmt.Sprintf("%d concurrent real-time 720p30 jobs through serve: slowest job %.2f fps, worst job had %.1f%% of its frames late",
			n, worstFPS, worstLate*100))
	}
	return notes, ok
}

// admitted posts 4-peer 720p30 jobs, one per manifest, until serve answers
// 503 NO_CAPACITY, and stops them: how many its admission lets run at once.
func admitted(ctx context.Context, s *serveProc, manifests []string) (int, error) {
	var ids []string
	defer func() {
		for _, id := range ids {
			_, _ = s.client.Stop(ctx, id, true)
		}
	}()
	for i, mf := range manifests {
		start := s.client.Start
		if i == 0 {
			// The previous job's cost may be released just after its end.
			start = func(ctx context.Context, cfg config.Job, _ string) (worker.State, error) { return s.startJob(ctx, cfg) }
		}
		st, err := start(ctx, fileJob(mf, time.Minute), "")
		var p *api.Problem
		if errors.As(err, &p) && p.Code == api.CodeNoCapacity {
			return len(ids), nil
		}
		if err != nil {
			return 0, fmt.Errorf("POST /v1/jobs: %w", err)
		}
		ids = append(ids, st.ID)
	}
	return len(ids), fmt.Errorf("serve admitted all %d jobs", len(ids))
}
