package netfault

import (
	"encoding/binary"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// packet is a minimal RTP packet with sequence number seq.
func packet(s *scheduler, seq uint16) []byte {
	b := s.buffer()[:12]
	clear(b)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:4], seq)
	return b
}

type delivery struct {
	seq   uint16
	at    time.Time // admitted
	out   time.Time // released
	index int       // position in the output
}

// run admits n packets spaced apart and pops everything due as it goes,
// then drains: the output in order, with each packet's times.
func run(t *testing.T, f Fault, n int, spacing time.Duration) ([]delivery, *Counters) {
	t.Helper()
	c := &Counters{}
	s := newScheduler(f, f.Seed, 1, c)
	t0 := time.Unix(1000, 0)
	admitted := make(map[uint16]time.Time, n)
	var out []delivery
	drain := func(now time.Time) {
		for {
			b, ok, _ := s.pop(now)
			if !ok {
				return
			}
			seq := binary.BigEndian.Uint16(b[2:4])
			out = append(out, delivery{seq: seq, at: admitted[seq], out: now, index: len(out)})
			s.recycle(b)
		}
	}
	// Time advances in 1 ms steps, so release times are seen to the ms.
	now := t0
	for i := range n {
		at := t0.Add(time.Duration(i) * spacing)
		for ; now.Before(at); now = now.Add(time.Millisecond) {
			drain(now)
		}
		admitted[uint16(i)] = at
		s.admit(packet(s, uint16(i)), at)
		drain(at)
	}
	end := now.Add(f.Delay + f.Jitter + MaxHold + time.Second)
	for ; !now.After(end); now = now.Add(time.Millisecond) {
		drain(now)
	}
	if p := s.pending(); p != 0 {
		t.Fatalf("%d packets still held a second after the last deadline", p)
	}
	return out, c
}

func TestLossRate(t *testing.T) {
	const n = 20000
	for _, loss := range []float64{0, 0.05, 0.15, 1} {
		out, c := run(t, Fault{Loss: loss, Seed: 7}, n, time.Millisecond)
		got := float64(c.Dropped.Load()) / n
		// Four standard deviations of a binomial over n packets.
		tol := 4 * math.Sqrt(loss*(1-loss)/n)
		if math.Abs(got-loss) > tol+1e-9 {
			t.Errorf("loss %g: dropped %.4f of %d packets, want within %.4f", loss, got, n, tol)
		}
		if len(out)+int(c.Dropped.Load()) != n {
			t.Errorf("loss %g: %d delivered + %d dropped != %d", loss, len(out), c.Dropped.Load(), n)
		}
		for i := 1; i < len(out); i++ {
			if out[i].seq <= out[i-1].seq {
				t.Fatalf("loss %g alone reordered: %d after %d", loss, out[i].seq, out[i-1].seq)
			}
		}
	}
}

func TestReorderDepth(t *testing.T) {
	const n = 5000
	for _, tc := range []struct {
		p     float64
		depth int
	}{{0.1, 1}, {0.1, 3}, {0.3, 8}} {
		out, c := run(t, Fault{Reorder: tc.p, ReorderDepth: tc.depth, Seed: 3}, n, time.Millisecond)
		if len(out) != n {
			t.Fatalf("reorder %g/%d: %d of %d packets delivered", tc.p, tc.depth, len(out), n)
		}
		late, seen := 0, make(map[uint16]bool, n)
		for _, d := range out {
			if seen[d.seq] {
				t.Fatalf("reorder alone duplicated %d", d.seq)
			}
			seen[d.seq] = true
			// A held packet is passed by at most depth packets, plus the
			// ones held with it that were released before it.
			if shift := d.index - int(d.seq); shift > tc.depth+maxHeld {
				t.Errorf("reorder %g/%d: packet %d left %d places late", tc.p, tc.depth, d.seq, shift)
			}
			if d.index > int(d.seq) {
				late++
			}
		}
		want := float64(c.Reordered.Load()) / n
		if math.Abs(want-tc.p) > 4*math.Sqrt(tc.p*(1-tc.p)/n) {
			t.Errorf("reorder %g/%d: %.3f held back", tc.p, tc.depth, want)
		}
		if late == 0 {
			t.Errorf("reorder %g/%d: no packet came late", tc.p, tc.depth)
		}
		// Depth 1: a held packet is passed by exactly the next one.
		if tc.depth == 1 {
			for _, d := range out {
				if d.index > int(d.seq)+1 {
					t.Errorf("depth 1: packet %d left at %d", d.seq, d.index)
				}
			}
		}
	}
}

func TestDuplicates(t *testing.T) {
	const n = 10000
	out, c := run(t, Fault{Duplicate: 0.1, Seed: 5}, n, time.Millisecond)
	count := make(map[uint16]int, n)
	for _, d := range out {
		count[d.seq]++
	}
	twice := 0
	for seq := range n {
		switch count[uint16(seq)] {
		case 1:
		case 2:
			twice++
		default:
			t.Fatalf("packet %d delivered %d times", seq, count[uint16(seq)])
		}
	}
	if twice != int(c.Duplicated.Load()) || math.Abs(float64(twice)/n-0.1) > 4*math.Sqrt(0.1*0.9/n) {
		t.Errorf("%d duplicated (counted %d), want about 10%% of %d", twice, c.Duplicated.Load(), n)
	}
}

func TestJitterBounds(t *testing.T) {
	const n = 3000
	for _, inOrder := range []bool{false, true} {
		f := Fault{Delay: 20 * time.Millisecond, Jitter: 200 * time.Millisecond, InOrder: inOrder, Seed: 11}
		out, _ := run(t, f, n, 20*time.Millisecond)
		if len(out) != n {
			t.Fatalf("in order %t: %d of %d delivered", inOrder, len(out), n)
		}
		var minD, maxD time.Duration = time.Hour, 0
		reordered := 0
		for i, d := range out {
			delay := d.out.Sub(d.at)
			minD, maxD = min(minD, delay), max(maxD, delay)
			if !inOrder && delay > f.Delay+f.Jitter {
				t.Errorf("packet %d delayed %v, beyond %v", d.seq, delay, f.Delay+f.Jitter)
			}
			if i > 0 && d.seq < out[i-1].seq {
				reordered++
			}
		}
		if minD < f.Delay {
			t.Errorf("in order %t: a packet delayed only %v, less than Delay %v", inOrder, minD, f.Delay)
		}
		if inOrder && reordered > 0 {
			t.Errorf("in order: %d packets overtaken", reordered)
		}
		if !inOrder && reordered == 0 {
			t.Error("200 ms of jitter over 20 ms spacing reordered nothing")
		}
		if maxD < f.Delay+f.Jitter*9/10 {
			t.Errorf("in order %t: largest delay %v: the jitter's range is not used", inOrder, maxD)
		}
		t.Logf("in order %t: delay %v..%v, %d overtaken", inOrder, minD, maxD, reordered)
	}
}

// TestNothingHeldForever: a stream that stops after a few packets, all
// held back for reordering, still gets them within MaxHold.
func TestNothingHeldForever(t *testing.T) {
	c := &Counters{}
	s := newScheduler(Fault{Reorder: 1, ReorderDepth: 10, Seed: 1}, 1, 1, c)
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		s.admit(packet(s, uint16(i)), t0)
	}
	if _, ok, wake := s.pop(t0); ok || !wake.Equal(t0.Add(MaxHold)) {
		t.Fatalf("at once: released %t, wake %v; want held until %v", ok, wake, t0.Add(MaxHold))
	}
	got := 0
	for {
		if _, ok, _ := s.pop(t0.Add(MaxHold)); !ok {
			break
		}
		got++
	}
	if got != 3 || s.pending() != 0 {
		t.Fatalf("after MaxHold %d of 3 released, %d pending", got, s.pending())
	}
}

func TestSameSeedSameDecisions(t *testing.T) {
	f := Fault{Loss: 0.1, Reorder: 0.1, Duplicate: 0.05, Jitter: 30 * time.Millisecond, Seed: 42}
	a, _ := run(t, f, 2000, 5*time.Millisecond)
	b, _ := run(t, f, 2000, 5*time.Millisecond)
	if len(a) != len(b) {
		t.Fatalf("%d and %d delivered", len(a), len(b))
	}
	for i := range a {
		if a[i].seq != b[i].seq || !a[i].out.Equal(b[i].out) {
			t.Fatalf("delivery %d differs: %+v and %+v", i, a[i], b[i])
		}
	}
	f.Seed = 43
	c, _ := run(t, f, 2000, 5*time.Millisecond)
	same := len(a) == len(c)
	for i := 0; same && i < len(a); i++ {
		same = a[i].seq == c[i].seq
	}
	if same {
		t.Error("another seed made the same decisions")
	}
}

func TestRetransmissionCounted(t *testing.T) {
	c := &Counters{}
	s := newScheduler(Fault{Loss: 0.5, Seed: 9}, 9, 1, c)
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		s.admit(packet(s, uint16(i)), t0)
	}
	dropped := c.Dropped.Load()
	// The SFU sends each dropped packet again; half of those are lost too.
	for i := range 1000 {
		s.admit(packet(s, uint16(i)), t0)
	}
	if got := c.Retransmitted.Load(); got != dropped {
		t.Errorf("%d packets came again after %d were dropped", got, dropped)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		f    Fault
		want string
	}{
		{Fault{Loss: 1.5}, "Fault.Loss"},
		{Fault{Loss: math.NaN()}, "Fault.Loss"},
		{Fault{RTCPLoss: -0.1}, "Fault.RTCPLoss"},
		{Fault{Reorder: 2}, "Fault.Reorder"},
		{Fault{Duplicate: -1}, "Fault.Duplicate"},
		{Fault{ReorderDepth: maxHeld + 1}, "Fault.ReorderDepth"},
		{Fault{Delay: -time.Second}, "Fault.Delay"},
		{Fault{Jitter: -time.Second}, "Fault.Jitter"},
		{Fault{BurstFor: -time.Second}, "Fault.BurstFor"},
		{Fault{Loss: 0.15, Reorder: 0.05, Duplicate: 0.02, Jitter: 200 * time.Millisecond}, ""},
	} {
		_, err := New(tc.f)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.f, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one naming %s", tc.f, err, tc.want)
		}
	}
}

// TestRTXRepairsCounted: an RTX packet (RFC 4588) carrying a packet the
// primary stream lost counts as a retransmission; a padding-only probe
// does not.
func TestRTXRepairsCounted(t *testing.T) {
	t0 := time.Unix(1000, 0)
	primary := &seqSet{}
	primary.add(5, t0.Add(-30*time.Millisecond))
	c := &Counters{}
	s := newScheduler(Fault{}, 1, 1, c)
	var sets atomic.Pointer[[]*seqSet]
	sets.Store(&[]*seqSet{{}, primary})
	s.repairs = &sets
	probe := packet(s, 100)
	probe[0] |= 0x20 // padding only
	probe = append(probe, 0, 0, 0, 4)
	s.admit(probe, t0)
	rtx := append(packet(s, 101), 0, 5, 0xaa, 0xbb)
	s.admit(rtx, t0)
	if got, d := c.Retransmitted.Load(), c.snapshot().RecoveryMean; got != 1 || d != 30*time.Millisecond {
		t.Fatalf("%d retransmissions counted, after %v; want 1 after 30ms", got, d)
	}
	if _, ok := primary.take(5, t0); ok {
		t.Fatal("the repaired packet is still marked lost")
	}
}

func TestBurst(t *testing.T) {
	// 1 ms spacing: packets 100..149 fall in the burst.
	out, c := run(t, Fault{BurstAt: 100 * time.Millisecond, BurstFor: 50 * time.Millisecond}, 300, time.Millisecond)
	if c.Dropped.Load() != 50 || len(out) != 250 {
		t.Fatalf("%d dropped, %d delivered; want 50 and 250", c.Dropped.Load(), len(out))
	}
	for _, d := range out {
		if d.seq >= 100 && d.seq < 150 {
			t.Fatalf("packet %d of the burst delivered", d.seq)
		}
	}
}

// TestSchedulerAllocatesNothing: per packet, once warm, admitting and
// handing out a packet allocates nothing (a duplicate's copy reuses a
// buffer too).
func TestSchedulerAllocatesNothing(t *testing.T) {
	s := newScheduler(Fault{Loss: 0.1, Reorder: 0.1, Duplicate: 0.1, Jitter: 5 * time.Millisecond, Seed: 1}, 1, 1, &Counters{})
	now := time.Unix(1000, 0)
	var seq uint16
	step := func() {
		now = now.Add(time.Millisecond)
		seq++
		s.admit(packet(s, seq), now)
		for {
			b, ok, _ := s.pop(now)
			if !ok {
				break
			}
			s.recycle(b)
		}
	}
	for range 2000 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%.1f allocations a packet", n)
	}
}
