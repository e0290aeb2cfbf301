package service

// A job's parts: one per node it has run on.

import (
	"slices"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// partFiles are the outputs part n of a job writes, relative to its folder.
func partFiles(cfg config.Job, n int) []string {
	files := []string{}
	if cfg.Record {
		name := "recording.mp4"
		if cfg.AudioOnly {
			name = "recording.m4a"
		}
		files = append(files, jobstate.PartFile(name, n))
	}
	if cfg.HLSRecord {
		files = append(files, jobstate.PartFile("hls", n)+"/index.m3u8")
	}
	return files
}

// decorate adds what the service knows and the job's process does not:
// the node, the parts, and the job's first start (a later part's process
// started later).
func (j *job) decorate(st jobstate.State) jobstate.State {
	st = normalized(st)
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.parts) == 0 {
		return st
	}
	st.Node = j.parts[len(j.parts)-1].Node
	st.Parts = slices.Clone(j.parts)
	if rf := st.Recording.Files; len(rf) > 1 {
		// The archive resumed after a write error into more files
		// (jobstate.ResumeFile): this part lists them all.
		last := &st.Parts[len(st.Parts)-1]
		files := slices.Clone(last.Files)
		for _, f := range rf {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		last.Files = files
	}
	if !j.startedAt.IsZero() {
		t := j.startedAt
		st.StartedAt = &t
	}
	return st
}

// endPart marks this run's part ended at t, once.
func (j *job) endPart(t time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(j.parts); n > 0 && j.parts[n-1].EndedAt == nil {
		t = t.UTC()
		j.parts[n-1].EndedAt = &t
	}
}
