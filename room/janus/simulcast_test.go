package janus

import (
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

// layerFiles makes three VP8 files of one second keyframe intervals, one
// per simulcast layer, told apart by their size.
func layerFiles(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, l := range []struct{ name, size string }{{"h", "640x360"}, {"m", "320x180"}, {"l", "160x90"}} {
		p := filepath.Join(dir, l.name+".webm")
		cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+l.size+":rate=15:duration=4",
			"-c:v", "libvpx", "-g", "15", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", p)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		out = append(out, p)
	}
	return out
}

// vp8Width returns the width a VP8 keyframe's first packet states, or 0.
func vp8Width(p *rtp.Packet) int {
	var d codecs.VP8Packet
	payload, err := d.Unmarshal(p.Payload)
	if err != nil || d.S != 1 || d.PID != 0 || len(payload) < 10 {
		return 0
	}
	if payload[0]&1 != 0 || payload[3] != 0x9d || payload[4] != 0x01 || payload[5] != 0x2a {
		return 0 // not a keyframe
	}
	return int(payload[6]) | int(payload[7]&0x3f)<<8
}

// TestSimulcastSubstream: a publisher sends three layers; a small tile gets
// the low one and a large tile the high one, chosen with configure.
func TestSimulcastSubstream(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{VideoCodec: "vp8"})
	url := s.URL(id)
	layers := layerFiles(t)
	startPublisher(t, url, "alice", "", func(o *PublisherOptions) { o.Simulcast = layers })
	r := startRoom(t, Options{URL: url})
	var (
		mu     sync.Mutex
		widths []int
		tr     room.Track
	)
	added := make(chan struct{})
	go func() {
		for ev := range r.Events() {
			if ev.Type == room.TrackAdded && ev.Track.Info().Kind == room.KindVideo {
				tr = ev.Track
				close(added)
				go func() {
					for {
						p, err := room.ReadRTP(tr)
						if err != nil {
							return
						}
						if w := vp8Width(p); w > 0 {
							mu.Lock()
							widths = append(widths, w)
							mu.Unlock()
						}
					}
				}()
			}
		}
	}()
	select {
	case <-added:
	case <-time.After(10 * time.Second):
		t.Fatal("no video track")
	}
	waitWidth := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(widths)
			last := 0
			if n > 0 {
				last = widths[n-1]
			}
			mu.Unlock()
			if last == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: keyframes were %v wide, want %d at the end", what, widths, want)
	}
	if err := r.SetVideoSize(tr.Info().ID, 160, 90); err != nil {
		t.Fatal(err)
	}
	waitWidth(160, "a 160x90 tile")
	if got := r.Substream(tr.Info().ID); got != 0 {
		t.Errorf("substream %d, want 0", got)
	}
	if err := r.SetVideoSize(tr.Info().ID, 1280, 720); err != nil {
		t.Fatal(err)
	}
	waitWidth(640, "a 1280x720 tile")
}
