package browser

import (
	"context"
	"math"
	"testing"
	"time"

	lkproto "github.com/livekit/protocol/livekit"

	"github.com/roomcast/roomcast/internal/lktest"
)

// TestPublisher: a Chromium tab joins a real livekit-server, publishes its
// fake camera (simulcast) and microphone, measures its own capture offset,
// and leaves.
func TestPublisher(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := lktest.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	media, err := MakeMedia(ctx, t.TempDir(), "blue", Media{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Launch(ctx, Options{Media: media, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Logf("chromium %s", b.Version())
	p, err := b.Open(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := srv.Token("r1", "alice")
	if err != nil {
		t.Fatal(err)
	}
	j, err := p.Join(ctx, srv.WSURL(), tok, JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Identity != "alice" || j.SID == "" {
		t.Fatalf("joined as %+v", j)
	}
	if err := p.StartProbe(ctx); err != nil {
		t.Fatal(err)
	}
	// The server sees both tracks, the camera with two simulcast layers.
	var tracks []*lkproto.TrackInfo
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		res, err := srv.API().ListParticipants(ctx, &lkproto.ListParticipantsRequest{Room: "r1"})
		if err == nil && len(res.Participants) == 1 && len(res.Participants[0].Tracks) == 2 {
			tracks = res.Participants[0].Tracks
			break
		}
	}
	if tracks == nil {
		t.Fatal("the server never listed alice with two tracks")
	}
	for _, tr := range tracks {
		t.Logf("track %s %s %s codecs %v", tr.Sid, tr.Type, tr.Source, tr.Codecs)
	}
	time.Sleep(8 * time.Second)
	layers, err := p.SenderLayers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sender layers %+v", layers)
	src, err := p.Probe(ctx, true)
	if err != nil {
		t.Fatalf("%v: %+v", err, src)
	}
	t.Logf("source offset %.1f ms over %d pairs (%d flashes, %d skipped, %d beeps) %+v", src.MeanOffsetMs, len(src.Pairs), src.Flashes, src.SkippedFlashes, src.Beeps, src)
	if math.Abs(src.MeanOffsetMs) > 300 || len(src.Pairs) < 4 {
		t.Errorf("the source's own offset is %.1f ms, want within 300 ms, from at least 4 pairs", src.MeanOffsetMs)
	}
	if err := p.Leave(ctx); err != nil {
		t.Fatal(err)
	}
}
