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

// TestLaterReportsMoveTheVideo: once pinned, each later sender report of
// the peer's audio that moves its RTP→NTP mapping keeps the audio where it
// plays and moves the peer's offset instead (the compositor would hold
// audio that moved by up to 10 ms, and the video would not follow); a
// video report moves the video alone; another audio track's report moves
// neither. Either way, audio and video of the same NTP time land together,
// by the reports.
func TestLaterReportsMoveTheVideo(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	const ntp0 = 10 * time.Second
	tests := []struct {
		name string
		// The second reports: how far the audio's and the video's RTP 0
		// moved on the NTP clock, and whether the audio's report is
		// another audio track's.
		audioStep, videoStep time.Duration
		other                bool
		// How far the audio and the video of one NTP time move in job
		// time.
		wantAudio, wantVideo time.Duration
	}{
		{name: "earlier audio report, within the snap", audioStep: ms(-6), wantVideo: ms(6)},
		{name: "earlier audio report, past the snap", audioStep: ms(-12), wantVideo: ms(12)},
		{name: "later audio report", audioStep: ms(6), wantVideo: ms(-6)},
		{name: "later audio report, past the snap", audioStep: ms(31.8), wantVideo: ms(-31.8)},
		{name: "video report", videoStep: ms(5), wantVideo: ms(5)},
		{name: "both", audioStep: ms(-10), videoStep: ms(3), wantVideo: ms(13)},
		{name: "report unchanged"},
		// Past reportJump, the estimate decides: a report 250 ms later
		// agrees with it (every packet now shows 250 ms less delay),
		// one 250 ms earlier does not, and the audio takes that (less
		// the estimate's slew over the second between the packets).
		{name: "audio report 250 ms later", audioStep: ms(250), wantVideo: ms(-250)},
		{name: "audio report 250 ms earlier", audioStep: ms(-250), wantAudio: ms(-249.5), wantVideo: ms(0.5)},
		{name: "another audio track's report", audioStep: ms(-6), other: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSync(newTestClock(epoch), false)
			audio := newTrackMapper(s, 48000)
			other := newTrackMapper(s, 48000)
			video := newTrackMapper(s, 90000)
			// Both RTP 0 are NTP 10 s; every packet takes 20 ms, and
			// reports come with the packets of 1 s.
			audio.setSR(1, 0, toNTP(epoch.Add(ntp0)))
			video.setSR(2, 0, toNTP(epoch.Add(ntp0)))
			other.setSR(3, 0, toNTP(epoch.Add(ntp0)))
			audio.observe(1, 48000, ms(1020))
			video.observe(2, 90000, ms(1020))
			other.observe(3, 48000, ms(1020))
			a0, v0 := audio.jobTime(96000), video.jobTime(180000) // NTP 12 s
			if a0 != v0 {
				t.Fatalf("after the first reports: audio of NTP 12 s at %v, video at %v", a0, v0)
			}
			// The second reports, at 2 s: a step of +d says RTP 0 was
			// captured d later than the first report said.
			step := func(m *trackMapper, ssrc uint32, rate int64, d time.Duration) {
				m.setSR(ssrc, uint32(2*rate), toNTP(epoch.Add(ntp0+d+2*time.Second)))
				m.observe(ssrc, uint32(2*rate), ms(2020))
			}
			if tc.other {
				step(other, 3, 48000, tc.audioStep)
				step(audio, 1, 48000, 0)
			} else {
				step(audio, 1, 48000, tc.audioStep)
			}
			step(video, 2, 90000, tc.videoStep)
			if got := audio.jobTime(96000) - a0; !near(got, tc.wantAudio, time.Microsecond) {
				t.Errorf("the audio of RTP 96000 moved %v at the report, want %v", got, tc.wantAudio)
			}
			v1 := video.jobTime(180000)
			if got := v1 - v0; !near(got, tc.wantVideo, time.Microsecond) {
				t.Errorf("the video of RTP 180000 moved %v, want %v", got, tc.wantVideo)
			}
		})
	}
}

// TestLaterPinDoesNotRepin: the pin's move at a later report moves the
// estimate it is checked against too. The first audio packet came 6 ms
// later than the rest, and the pin is there; an audio report 12 ms
// earlier moves the pin 12 ms on, which alone would put it 18 ms from the
// estimate, past repinStep, and jump the audio.
func TestLaterPinDoesNotRepin(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	s := NewSync(newTestClock(epoch), false)
	audio := newTrackMapper(s, 48000)
	audio.setSR(1, 0, toNTP(epoch.Add(10*time.Second)))
	audio.observe(1, 0, ms(1026))
	for i := 1; i <= 100; i++ {
		audio.observe(1, uint32(960*i), ms(1020+20*i))
	}
	before := audio.jobTime(960 * 200)
	audio.setSR(1, 960*101, toNTP(epoch.Add(10*time.Second+ms(20*101-12))))
	for i := 101; i <= 200; i++ {
		// The same arrivals: 12 ms later than the report now says.
		audio.observe(1, uint32(960*i), ms(1020+20*i))
	}
	if got := audio.jobTime(960 * 200); got != before {
		t.Errorf("the audio moved %v after an earlier report", got-before)
	}
}
