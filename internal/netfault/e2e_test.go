package netfault_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/internal/netfault"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/livekit"
	"github.com/roomcast/roomcast/worker"
)

// The end-to-end cases: a real livekit-server, two in-process publishers
// (alice, whose square moves every frame, for frozen tiles and picture
// quality; sync, which flashes and beeps together, for the A/V offset), and
// two roomcast jobs recording the room at once: one behind a faulty network,
// the other behind a perfect one, the reference the first is compared with.
const (
	outWidth, outHeight = 640, 360
	outFPS              = 30
)

// networkCase is one row of the fault table.
type networkCase struct {
	name  string
	fault netfault.Fault
	// Bounds asserted on the faulty recording, measured with margin (see
	// docs/reliability.md, "Network faults").
	maxFreeze  time.Duration // longest frozen run of alice's tile beyond the reference's
	maxOffset  float64       // |A/V offset| of the sync peer, ms
	minPSNR    float64       // alice's tile against the reference, dB
	maxPLIs    int64         // keyframe requests sent, at most
	wantNACKed bool          // NACKs must have been sent
}

// shortCase runs in make test: every fault at once, mildly, and a half
// second outage at 5 s.
var shortCase = networkCase{
	name: "mixed",
	fault: netfault.Fault{Loss: 0.05, RTCPLoss: 0.05, Reorder: 0.05, ReorderDepth: 2, Duplicate: 0.03,
		Jitter: 30 * time.Millisecond, BurstAt: 5 * time.Second, BurstFor: 500 * time.Millisecond, Seed: 1},
	maxFreeze: 2500 * time.Millisecond, maxOffset: 100, minPSNR: 20, maxPLIs: 60, wantNACKed: true,
}

// fullCases are the table's rows, behind ROOMCAST_NETFAULT_ALL=1.
var fullCases = []networkCase{
	// No fault: the floor of the comparison, two recordings of one room.
	{name: "none", maxFreeze: 500 * time.Millisecond, maxOffset: 60, minPSNR: 25, maxPLIs: 6},
	{name: "loss5", fault: netfault.Fault{Loss: 0.05, RTCPLoss: 0.05, Seed: 5},
		maxFreeze: 2 * time.Second, maxOffset: 80, minPSNR: 22, maxPLIs: 60, wantNACKed: true},
	{name: "loss15", fault: netfault.Fault{Loss: 0.15, RTCPLoss: 0.15, Seed: 15},
		maxFreeze: 3 * time.Second, maxOffset: 100, minPSNR: 18, maxPLIs: 120, wantNACKed: true},
	{name: "reorder", fault: netfault.Fault{Reorder: 0.1, ReorderDepth: 2, Seed: 2},
		maxFreeze: 2 * time.Second, maxOffset: 80, minPSNR: 22, maxPLIs: 60},
	{name: "reorder-deep", fault: netfault.Fault{Reorder: 0.1, ReorderDepth: 5, Seed: 2},
		maxFreeze: 3 * time.Second, maxOffset: 80, minPSNR: 20, maxPLIs: 80},
	{name: "duplicate", fault: netfault.Fault{Duplicate: 0.1, Seed: 3},
		maxFreeze: 500 * time.Millisecond, maxOffset: 60, minPSNR: 25, maxPLIs: 6},
	{name: "jitter200", fault: netfault.Fault{Jitter: 200 * time.Millisecond, Seed: 4},
		maxFreeze: 3 * time.Second, maxOffset: 150, minPSNR: 18, maxPLIs: 120},
	{name: "jitter200-in-order", fault: netfault.Fault{Jitter: 200 * time.Millisecond, InOrder: true, Seed: 4},
		maxFreeze: 1 * time.Second, maxOffset: 120, minPSNR: 22, maxPLIs: 20},
	{name: "burst", fault: netfault.Fault{BurstAt: 5 * time.Second, BurstFor: 2 * time.Second, Seed: 6},
		maxFreeze: 4 * time.Second, maxOffset: 120, minPSNR: 18, maxPLIs: 40},
}

// TestNetworkFaults records the room behind the short case's faulty
// network; with ROOMCAST_NETFAULT_ALL=1, behind each of the table's.
func TestNetworkFaults(t *testing.T) {
	cases := []networkCase{shortCase}
	dur := 10 * time.Second
	if os.Getenv("ROOMCAST_NETFAULT_ALL") == "1" {
		cases = fullCases
		dur = 15 * time.Second
	}
	lk, err := lktest.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Kill)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runCase(t, lk, fmt.Sprintf("netfault-%d", i), tc, dur) })
	}
}

func runCase(t *testing.T, lk *lktest.Server, roomName string, tc networkCase, dur time.Duration) {
	fa, err := netfault.New(tc.fault)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+60*time.Second)
	defer cancel()
	peers, err := filepath.Abs("../../testdata/peers")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ id, file string }{{"alice", "alice.webm"}, {"sync", "sync-a.webm"}} {
		pub, err := livekit.NewPublisher(livekit.PublisherOptions{URL: lk.URL(roomName), APIKey: lktest.DevKey, APISecret: lktest.DevSecret,
			Identity: p.id, Media: filepath.Join(peers, p.file), Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Start(ctx); err != nil {
			t.Fatalf("publisher %s: %v", p.id, err)
		}
		t.Cleanup(func() { _ = pub.Close() })
	}
	time.Sleep(time.Second)

	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i, f := range []*netfault.Factory{nil, fa} {
		outs[i] = t.TempDir()
		if keep := os.Getenv("ROOMCAST_NETFAULT_KEEP"); keep != "" {
			// Keep the recordings, to look at them.
			outs[i] = filepath.Join(keep, tc.name, []string{"reference", "faulty"}[i])
		}
		wg.Go(func() { errs[i] = record(ctx, lk.URL(roomName), f, outs[i], dur) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	st := fa.Stats()
	t.Logf("%s: %v", tc.fault, st)
	ref, got := filepath.Join(outs[0], "recording.mp4"), filepath.Join(outs[1], "recording.mp4")
	m := measureCase(t, ref, got)
	t.Logf("%s: %s", tc.name, m)
	t.Logf("row %s: frozen %v longest (reference %v), %v in all (reference %v); A/V offset %.0f ms mean, %.0f ms worst (reference %.0f / %.0f); "+
		"PSNR %.1f dB, SSIM %.4f; %d of %d video packets dropped, %d repaired (%d by RTX, mean %v, max %v), %d NACKs, %d PLIs",
		tc.name, m.longest, m.refLongest, m.total, m.refTotal, m.offMean, m.offWorst, m.refOffMean, m.refOffWorst, m.psnr, m.ssim,
		st.Video.Dropped, st.Video.Received, st.Video.Retransmitted+st.RTX.Retransmitted, st.RTX.Retransmitted,
		st.RTX.RecoveryMean.Round(time.Millisecond), st.RTX.RecoveryMax.Round(time.Millisecond), st.NACKs, st.PLIs)

	// Continuous: a frame every 1/fps and audio throughout, for the whole
	// job, no tile black.
	if want := int(dur.Seconds()*outFPS) - 3; m.frames < want {
		t.Errorf("%d output frames, want at least %d", m.frames, want)
	}
	if m.maxGap > 1.5/outFPS {
		t.Errorf("a gap of %.0f ms between output frames: the clock stalled", m.maxGap*1000)
	}
	// AAC frames are 1024 samples (21.3 ms) apart.
	if m.audioGap > 0.03 || m.audioEnd < m.lastPTS-0.1 {
		t.Errorf("audio: a gap of %.0f ms, last packet at %.2f s of %.2f: the audio clock stalled", m.audioGap*1000, m.audioEnd, m.lastPTS)
	}
	if m.black > 0 {
		t.Errorf("%d frames show alice's tile black", m.black)
	}
	// Recovered: no freeze longer than the bound, and moving at the end.
	if d := m.longest - m.refLongest; d > tc.maxFreeze {
		t.Errorf("alice's tile froze for %v (reference %v): %v beyond, more than %v", m.longest, m.refLongest, d, tc.maxFreeze)
	}
	// A loss just before the end waits for the clip's next keyframe (one
	// a second), which may fall after it.
	if m.lastMotion < m.lastPTS-1.5 {
		t.Errorf("alice's picture last moved at %.2f s of %.2f s: it did not come back", m.lastMotion, m.lastPTS)
	}
	if m.psnr < tc.minPSNR {
		t.Errorf("alice's picture: PSNR %.2f dB against the loss-free run, want at least %.0f", m.psnr, tc.minPSNR)
	}
	// The reference's own offset wanders with the load of two jobs on two
	// shared cores (up to 86 ms seen): the fault may add 50 ms to it.
	maxOffset := max(tc.maxOffset, math.Abs(m.refOffWorst)+50)
	if m.pairs < 4 || math.Abs(m.offWorst) > maxOffset {
		t.Errorf("sync peer: A/V offset up to %.1f ms over %d pairs (reference %.1f), want within %.0f ms over 4 or more",
			m.offWorst, m.pairs, m.refOffWorst, maxOffset)
	}
	// The recovery path ran for real: NACKs answered by retransmissions,
	// PLIs after what NACK could not save.
	lossy := tc.fault.Loss > 0 || tc.fault.BurstFor > 0
	if tc.wantNACKed && (st.NACKs == 0 || st.Video.Retransmitted+st.RTX.Retransmitted == 0) {
		t.Errorf("%d NACKs sent, %d dropped packets retransmitted: NACK did not run", st.NACKs, st.Video.Retransmitted+st.RTX.Retransmitted)
	}
	if lossy && st.PLIs == 0 {
		t.Error("no PLI sent under loss")
	}
	if st.PLIs > tc.maxPLIs {
		t.Errorf("%d PLIs sent, want at most %d", st.PLIs, tc.maxPLIs)
	}
}

// record runs a job on the room for dur, behind fa's network (nil: none).
func record(ctx context.Context, url string, fa *netfault.Factory, out string, dur time.Duration) error {
	open := func(_ context.Context, meetingURL string, _ mediaclock.Clock, log *slog.Logger) (room.Room, error) {
		o := livekit.Options{URL: meetingURL, APIKey: lktest.DevKey, APISecret: lktest.DevSecret, Logger: log}
		if fa != nil {
			o.Interceptors = []interceptor.Factory{fa}
		}
		return livekit.New(o)
	}
	level := slog.LevelWarn
	if fa != nil && os.Getenv("ROOMCAST_NETFAULT_DEBUG") == "1" {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	j, err := worker.New(config.Job{MeetingURL: url, Record: true, FPS: outFPS,
		Resolution: config.Resolution{Width: outWidth, Height: outHeight}, MaxDuration: config.Duration(dur)},
		worker.Options{Out: out, Open: open, Logger: log})
	if err != nil {
		return err
	}
	if err := j.Start(ctx); err != nil {
		return err
	}
	select {
	case <-j.Done():
	case <-ctx.Done():
		_ = j.Stop(context.Background())
		return fmt.Errorf("the job did not end: %w", ctx.Err())
	}
	if s := j.State(); s.State != worker.Stopped || s.Error != nil {
		return fmt.Errorf("job ended %s: %s %+v", s.State, s.Reason, s.Error)
	}
	return nil
}
