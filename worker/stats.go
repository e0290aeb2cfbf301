package worker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// refreshStats fills the state's live figures from the graph: frames from
// the compositor, bytes from the encoder and each output. Loop only.
func (j *Job) refreshStats() {
	g := j.g
	if g == nil || g.comp == nil || g.enc == nil {
		return
	}
	cs := g.comp.Stats()
	st := &j.state.Stats
	if g.audioOnly {
		// No frames: the figures are the audio's (cs.Frames stays 0).
		cs.LateTicks = 0
	}
	st.Frames = cs.Frames
	st.LateFrames = cs.LateTicks
	st.DroppedFrames, st.DuplicatedFrames = cs.DroppedFrames, cs.DuplicatedFrames
	if cs.FirstVideoFrame >= 0 && st.FirstVideoSeconds == nil {
		v := float64(cs.FirstVideoFrame) / float64(j.cfg.FPS)
		st.FirstVideoSeconds = &v
	}
	// Output time written, not the clock: a virtual clock runs on while the
	// job shuts down.
	st.Elapsed = float64(cs.Frames) / float64(j.cfg.FPS)
	if g.audioOnly {
		st.Elapsed = float64(cs.AudioSamples) / 48000
	}
	es := g.enc.Stats()
	st.EncodedBytes = es.VideoBytes + es.AudioBytes
	st.FPS, st.BitrateKbps = j.rate.sample(cs.Frames, st.EncodedBytes)
	j.refreshPeerStats()
	if g.thumbs != nil {
		n, err := g.thumbs.State()
		t := &Thumbnails{Count: n}
		if n > 0 {
			latest := thumbnailsDir(j.opts.Part) + "/latest.jpg"
			t.Latest = &latest
		}
		if err != nil {
			t.Error = &Error{Code: CodeInternal, Message: err.Error()}
			// A folder removed under the job (rm -rf): the thumbnails
			// writer clears its error with the next thumbnail it can
			// write, so give it its folder back.
			dir := filepath.Join(j.opts.Out, thumbnailsDir(j.opts.Part))
			if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
				if merr := os.MkdirAll(dir, 0o755); merr == nil {
					j.log.Warn("the thumbnails' folder was gone; made it again", "dir", dir)
				}
			}
		}
		t.Upload = g.uploadState(outThumbnails)
		j.state.Thumbnails = t
	}
	j.state.Recording.Upload = g.uploadState(outRecording)
	j.refreshRecordingFiles()
	j.state.HLSRecording.Upload = g.uploadState(outHLSRecord)
	if g.tracks != nil {
		j.state.Tracks = trackFiles(g.tracks.Files())
	}
	if g.fan == nil {
		return
	}
	states := g.fan.States()
	st.Outputs = st.Outputs[:0]
	for name, s := range states {
		o := OutputStats{Name: name, Bytes: s.Bytes, Reconnects: s.Retries, Errors: s.Errors, DroppedPackets: s.Dropped, QueuedPackets: s.Queued}
		switch {
		case name == outRecording:
			j.state.Recording.Bytes = s.Bytes
		default:
			if i := j.rtmpIndex(name); i >= 0 {
				j.state.RTMPStreaming.Outputs[i].Bytes = s.Bytes
				o.URL = j.state.RTMPStreaming.Outputs[i].URL
			}
		}
		st.Outputs = append(st.Outputs, o)
	}
	// A map's order is random; status.json and metrics want a stable one.
	slices.SortFunc(st.Outputs, func(a, b OutputStats) int { return strings.Compare(a.Name, b.Name) })
}

// rateMeter turns running totals into recent rates for the progress line.
// The job's loop owns it.
type rateMeter struct {
	lastAt     time.Time
	lastBytes  int64
	lastFrames int64
	fps, kbps  float64
}

// sample returns the frame rate and bitrate over the last second or more of
// wall time, given the totals so far.
func (r *rateMeter) sample(frames, bytes int64) (fps, kbps float64) {
	now := time.Now()
	if r.lastAt.IsZero() {
		r.lastAt, r.lastFrames, r.lastBytes = now, frames, bytes
		return 0, 0
	}
	if d := now.Sub(r.lastAt).Seconds(); d >= 1 {
		r.fps = float64(frames-r.lastFrames) / d
		r.kbps = float64(bytes-r.lastBytes) * 8 / 1000 / d
		r.lastAt, r.lastFrames, r.lastBytes = now, frames, bytes
	}
	return r.fps, r.kbps
}
