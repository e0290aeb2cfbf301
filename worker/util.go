package worker

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"time"
)

// newID returns a short random job id.
func newID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "job-" + hex.EncodeToString(b)
}

// redactRoom drops credentials and query strings (tokens) from a meetingUrl.
func redactRoom(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "file" || u.Scheme == "demo" || u.Opaque != "" {
		return s
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// rateMeter turns running totals into recent rates for the progress line.
// It is used with the job's mutex held.
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
