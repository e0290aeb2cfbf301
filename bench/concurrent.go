package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// concurrentDuration is each concurrent job's length.
const concurrentDuration = 10 * time.Second

// concurrency finds how many real-time 4-peer 720p30 jobs this machine
// keeps up with, as `record` commands and as jobs through serve (s), trying
// 1..maxJobs of each in turn so that both see the same load. Each side stops
// at its first number that did not hold.
func concurrency(ctx context.Context, bin, manifest, dir string, s *serveProc, manifests []string, maxJobs int) (notes []string, recordBest, serveBest int) {
	recordOn, serveOn := true, true
	for n := 1; n <= maxJobs && (recordOn || serveOn); n++ {
		if recordOn {
			ns, ok := recordRound(bin, manifest, dir, n)
			notes = append(notes, ns...)
			if recordOn = ok; ok {
				recordBest = n
			}
		}
		if serveOn {
			ns, ok := serveRound(ctx, s, manifests[:n])
			notes = append(notes, ns...)
			if serveOn = ok; ok {
				serveBest = n
			}
		}
	}
	notes = append(notes, fmt.Sprintf("**%d** concurrent 4-peer 720p30 `record` jobs keep real time on this machine, **%d** through serve (tried up to %d).",
		recordBest, serveBest, maxJobs))
	return notes, recordBest, serveBest
}

// recordRound runs n real-time 720p30 `record` commands at once; they held
// real time if every frame was on time but for 1% (maxLateShare).
func recordRound(bin, manifest, dir string, n int) (notes []string, ok bool) {
	var wg sync.WaitGroup
	late := make([]float64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out := filepath.Join(dir, fmt.Sprintf("conc%d-%d", n, i))
			cmd := exec.Command(bin, "record", "--room", "file:"+manifest, "--record", "--resolution", "1280x720",
				"--duration", concurrentDuration.String(), "--out", out, "--log-level", "error")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, tail(string(b), 500))
				return
			}
			st, err := readStatus(out)
			if err != nil || st.Stats.Frames == 0 {
				errs[i] = fmt.Errorf("status: %v", err)
				return
			}
			late[i] = float64(st.Stats.LateFrames) / float64(st.Stats.Frames)
		}(i)
	}
	wg.Wait()
	worst := 0.0
	for i := range late {
		if errs[i] != nil {
			notes = append(notes, fmt.Sprintf("%d concurrent jobs: job %d failed: %v", n, i, errs[i]))
			worst = 1
		}
		worst = max(worst, late[i])
	}
	notes = append(notes, fmt.Sprintf("%d concurrent real-time 720p30 `record` jobs: worst job had %.1f%% of its frames late", n, worst*100))
	return notes, worst <= maxLateShare
}
