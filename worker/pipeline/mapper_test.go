package pipeline

import (
	"testing"
	"time"
)

func TestUnwrapper(t *testing.T) {
	var u unwrapper
	in := []uint32{0xfffffc00, 0xfffffe00, 0x00000200, 0xffffff00, 0x00000400}
	want := []int64{0xfffffc00, 0xfffffe00, 0x100000200, 0xffffff00, 0x100000400}
	for i, ts := range in {
		if got := u.unwrap(ts); got != want[i] {
			t.Errorf("unwrap(%#x) = %#x, want %#x", ts, got, want[i])
		}
	}
}

func TestMapperRTPWrap(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := newTestClock(epoch)
	tests := []struct {
		name  string
		rate  uint32
		srRTP uint32
		first uint32 // first packet's timestamp
		ticks []int64
	}{
		{"video wraps after SR", 90000, 0xffff0000, 0xffff1000, []int64{0, 3000, 0x10000, 90000 * 10}},
		{"audio wraps before SR", 48000, 0x00000100, 0xfffff000, []int64{0, 960, 0x2000, 48000 * 60}},
		{"SR ahead of packets", 90000, 0x00001000, 0xfffffff0, []int64{0, 3000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSync(clk, true)
			m := newTrackMapper(s, tc.rate)
			srAt := 5 * time.Second // job time of the SR's RTP timestamp
			m.setSR(7, tc.srRTP, toNTP(epoch.Add(srAt)))
			for _, k := range tc.ticks {
				ts := tc.first + uint32(k)
				m.observe(7, ts, time.Second)
				// Exact: time follows from the SR alone.
				off := int64(int32(tc.first-tc.srRTP)) + k
				want := srAt + time.Duration(off)*time.Second/time.Duration(tc.rate)
				if got := m.jobTime(ts); !near(got, want, time.Microsecond) {
					t.Errorf("ticks %d: job time %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestMapperBeforeAndAfterSR(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewSync(newTestClock(epoch), true)
	m := newTrackMapper(s, 90000)
	// Before any SR: relative to the first packet's arrival.
	m.observe(1, 1000, 2*time.Second)
	if got := m.jobTime(1000 + 9000); got != 2*time.Second+100*time.Millisecond {
		t.Errorf("before SR: %v, want 2.1s", got)
	}
	// An SR of another SSRC is not ours.
	m.setSR(2, 1000, toNTP(epoch.Add(7*time.Second)))
	m.observe(1, 4000, 2*time.Second)
	if got := m.jobTime(1000); got != 2*time.Second {
		t.Errorf("foreign SR used: %v", got)
	}
	// Ours re-anchors.
	m.setSR(1, 1000, toNTP(epoch.Add(7*time.Second)))
	m.observe(1, 7000, 2*time.Second)
	if got := m.jobTime(1000 + 4500); !near(got, 7*time.Second+50*time.Millisecond, time.Microsecond) {
		t.Errorf("after SR: %v, want 7.05s", got)
	}
}

// TestAudioPinsThePeer: a peer's audio, timed by arrival until its first
// sender report, keeps playing where it plays when the report comes (the
// compositor would not move it by a few ms anyway); the Sync is pinned
// there, so that the video, mapped through the same Sync, lands where the
// reports say it belongs relative to that audio. Estimates within
// repinStep leave the pin alone; a larger change moves both.
func TestAudioPinsThePeer(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	s := NewSync(newTestClock(epoch), false)
	audio := newTrackMapper(s, 48000)
	video := newTrackMapper(s, 90000)
	// The sender captures audio RTP 0 and video RTP 0 at NTP 10 s; its
	// packets take 20 ms, but the first audio one took 26 ms.
	const ntp0 = 10 * time.Second
	audio.observe(1, 0, ms(1026))
	video.observe(2, 0, ms(1020))
	for i := 1; i <= 50; i++ { // one second of audio, before any report
		audio.observe(1, uint32(960*i), ms(1020+20*i))
	}
	before := audio.jobTime(960 * 50)
	// The reports: both RTP 0 at NTP 10 s.
	audio.setSR(1, 0, toNTP(epoch.Add(ntp0)))
	video.setSR(2, 0, toNTP(epoch.Add(ntp0)))
	audio.observe(1, 960*51, ms(1020+20*51))
	video.observe(2, 90000, ms(2020))
	if got := audio.jobTime(960 * 50); got != before {
		t.Errorf("audio moved at its first report: %v, was %v", got, before)
	}
	// Video RTP 90000 is NTP 11 s, as is audio RTP 48000.
	if a, v := audio.jobTime(48000), video.jobTime(90000); a != v {
		t.Errorf("after the reports: audio of NTP 11 s at %v, video at %v", a, v)
	}
	// Packets that show 6 ms less delay than the pin leave it alone…
	for i := 52; i < 100; i++ {
		audio.observe(1, uint32(960*i), ms(1020+20*i))
	}
	if got := audio.jobTime(960 * 50); got != before {
		t.Errorf("the pin moved by %v on a 6 ms change", got-before)
	}
	// …a change of more than repinStep moves audio and video together.
	video.observe(2, 180000, ms(3000)) // 20 ms early
	if a, v := audio.jobTime(96000), video.jobTime(180000); a != v || !near(a, ms(3000), time.Microsecond) {
		t.Errorf("after a 26 ms change: audio of NTP 12 s at %v, video at %v, want both at 3 s", a, v)
	}
}
