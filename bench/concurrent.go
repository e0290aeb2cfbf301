package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
)

// concurrentJobs runs 1..max real-time 720p30 jobs at once and reports the
// largest number that kept real time: every frame on time but for 1%.
func concurrentJobs(bin, manifest, dir string, maxJobs int) []string {
	var notes []string
	best := 0
	for n := 1; n <= maxJobs; n++ {
		var wg sync.WaitGroup
		late := make([]float64, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out := filepath.Join(dir, fmt.Sprintf("conc%d-%d", n, i))
				cmd := exec.Command(bin, "record", "--room", "file:"+manifest, "--record", "--resolution", "1280x720",
					"--duration", "10s", "--out", out, "--log-level", "error")
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
		notes = append(notes, fmt.Sprintf("%d concurrent real-time 720p30 jobs: worst job had %.1f%% of its frames late", n, worst*100))
		if worst > 0.01 {
			break
		}
		best = n
	}
	notes = append(notes, fmt.Sprintf("**%d** concurrent 4-peer 720p30 jobs keep real time on this machine (tried up to %d).", best, maxJobs))
	return notes
}
