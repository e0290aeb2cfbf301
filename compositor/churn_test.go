package compositor

import (
	"fmt"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
)

// TestChurnFreesDepartedPeers: peers that come, show video (each in a size
// of its own, so each tile needs its own scaler) and sound, and go, leave
// nothing behind: no peer, source, tile or scaler, and the frame pool stays
// bounded.
func TestChurnFreesDepartedPeers(t *testing.T) {
	r := newRig(t, base())
	r.peer("stay")
	const cycles = 40
	at := time.Duration(0)
	for i := range cycles {
		id := fmt.Sprintf("p%02d", i)
		r.peer(id)
		f := solid(t, 160+2*i, 90+2*i, astiav.PixelFormatYuv420P, shade(i))
		for k := range 5 {
			mt := at + time.Duration(k)*100*ms - base().Latency
			r.c.PushVideo(id+"-cam", f, mt)
			r.c.PushAudio(id+"-mic", make([]float32, 2*4800), mt)
		}
		at += 500 * ms
		r.run(t, at)
		if s := r.c.Stats(); s.Tiles != 2 || s.VideoSources != 2 || s.AudioSources != 2 {
			t.Fatalf("cycle %d, with %s present: %+v", i, id, s)
		}
		r.c.RemovePeer(id)
	}
	at += 200 * ms
	r.run(t, at) // the next frame lays out without the last one
	if s := r.c.Stats(); s.Peers != 1 || s.Tiles != 1 || s.VideoSources != 1 || s.AudioSources != 1 {
		t.Errorf("after %d peers came and went: %+v", cycles, s)
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if len(r.c.tiles) != 1 || len(r.c.tracks) != 2 || len(r.c.peers) != 1 {
		t.Errorf("left behind: %d tiles, %d tracks, %d peers", len(r.c.tiles), len(r.c.tracks), len(r.c.peers))
	}
	for _, tl := range r.c.tiles {
		if tl.key != "p:stay" {
			t.Errorf("a departed peer's tile is still there: %s", tl.key)
		}
	}
	if n := len(r.c.pool.free); n > 64 {
		t.Errorf("the frame pool holds %d frames, more than its bound of 64", n)
	}
}
