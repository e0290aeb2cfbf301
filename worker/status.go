package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// publish writes status.json and emits the contract's events for what
// changed since the last publish. It runs on the job's loop, so events come
// in order; OnEvent must not call back into the Job.
func (j *Job) publish() {
	j.refreshStats()
	cur := j.state.Clone()
	old := j.lastSaved
	j.lastSaved = cur
	if sameState(&old, &cur) {
		// Room events such as active speakers change nothing in the
		// state; the counters are kept fresh by SaveStatus.
		return
	}
	if err := writeStatus(j.opts.Out, &cur); err != nil {
		j.log.Warn("writing status.json", "err", err)
	}
	if j.opts.OnEvent != nil {
		for _, name := range changedEvents(&old, &cur) {
			j.opts.OnEvent(name, cur)
		}
	}
}

// saveStatus writes status.json with the latest figures.
func (j *Job) saveStatus() {
	j.refreshStats()
	cur := j.state.Clone()
	if err := writeStatus(j.opts.Out, &cur); err != nil {
		j.log.Warn("writing status.json", "err", err)
	}
}

// withoutCounters returns s without the figures that change all the time
// (stats, byte counts): what is left is the state proper.
func withoutCounters(s State) State {
	s = s.Clone()
	s.Stats = Stats{}
	s.Recording.Bytes = 0
	if s.Thumbnails != nil {
		s.Thumbnails.Count = 0
		if s.Thumbnails.Upload != nil {
			s.Thumbnails.Upload.Bytes = 0
		}
	}
	for _, u := range []*Upload{s.Recording.Upload, s.HLSRecording.Upload} {
		if u != nil {
			u.Bytes = 0
		}
	}
	for i := range s.RTMPStreaming.Outputs {
		s.RTMPStreaming.Outputs[i].Bytes = 0
	}
	return s
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// sameState reports whether two states differ only in their counters.
func sameState(old, cur *State) bool {
	return equalJSON(withoutCounters(*old), withoutCounters(*cur))
}

// changedEvents lists the contract events whose part differs between two
// states.
func changedEvents(old, cur *State) []string {
	o, c := withoutCounters(*old), withoutCounters(*cur)
	var ev []string
	if o.State != c.State || !equalJSON(o.Error, c.Error) {
		ev = append(ev, EventJob)
	}
	if !equalJSON(o.RTMPStreaming, c.RTMPStreaming) {
		ev = append(ev, EventRTMPStreaming)
	}
	if !equalJSON(o.Recording, c.Recording) {
		ev = append(ev, EventRecording)
	}
	if !equalJSON(o.HLSStreaming, c.HLSStreaming) {
		ev = append(ev, EventHLSStreaming)
	}
	if !equalJSON(o.HLSRecording, c.HLSRecording) {
		ev = append(ev, EventHLSRecording)
	}
	return ev
}

// writeStatus writes status.json atomically, so a reader (or a crash) never
// sees half a file.
func writeStatus(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(dir, ".status-*.json")
	if errors.Is(err, os.ErrNotExist) {
		// The job's folder was removed under it (rm -rf): the outputs
		// make theirs again, and the state belongs there too.
		if err = os.MkdirAll(dir, 0o755); err == nil {
			tmp, err = os.CreateTemp(dir, ".status-*.json")
		}
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "status.json")); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	return nil
}
