package worker

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"sync"
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
type rateMeter struct {
	mu         sync.Mutex
	bytes      int64
	lastAt     time.Time
	lastBytes  int64
	lastFrames int64
	fps, kbps  float64
}

func (r *rateMeter) add(n int) {
	r.mu.Lock()
	r.bytes += int64(n)
	r.mu.Unlock()
}

// sample returns the frame rate and bitrate over the last second or more of
// wall time, and the total bytes.
func (r *rateMeter) sample(frames int64) (fps, kbps float64, total int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.lastAt.IsZero() {
		r.lastAt, r.lastFrames, r.lastBytes = now, frames, r.bytes
		return 0, 0, r.bytes
	}
	if d := now.Sub(r.lastAt).Seconds(); d >= 1 {
		r.fps = float64(frames-r.lastFrames) / d
		r.kbps = float64(r.bytes-r.lastBytes) * 8 / 1000 / d
		r.lastAt, r.lastFrames, r.lastBytes = now, frames, r.bytes
	}
	return r.fps, r.kbps, r.bytes
}
