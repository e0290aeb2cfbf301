package analyze

import (
	"context"
	"fmt"
	"math"
)

// Update measures a recording known to be good and returns the expectation
// file for it: the measured stream parameters, duration, loudness, long
// silences and A/V sync with default tolerances, and prev's layout checks
// (and sync overrides) re-measured. prev may be nil. The report is the new
// file's checks against the same measurements, which all pass.
func Update(ctx context.Context, path string, prev *Expect, opts VerifyOptions) (*Expect, *Report, error) {
	if prev == nil {
		prev = &Expect{}
	}
	m, err := measure(ctx, path, prev, opts, true)
	if err != nil {
		return nil, nil, err
	}
	e := &Expect{Version: 1, Streams: &StreamsExpect{}}
	if v := m.info.Video; v != nil {
		e.Streams.Video = &VideoStreamExpect{Codec: v.Codec, Width: v.Width, Height: v.Height, FPS: round(v.FPS, 0.001)}
	}
	if a := m.info.Audio; a != nil {
		e.Streams.Audio = &AudioStreamExpect{Codec: a.Codec, Profile: a.Profile, SampleRate: a.SampleRate, Channels: a.Channels}
	}
	if d := m.info.Duration; d > 0 {
		e.Duration = &DurationExpect{
			Seconds: Seconds(round(d, 0.01)),
			// Half a second, or 1% of long recordings: start-up and stop
			// timing varies from run to run.
			Tolerance: Seconds(math.Max(DefaultDurationTolerance, round(d/100, 0.1))),
		}
	}
	if st := m.audio; st != nil {
		e.Audio = updateAudio(st, prev.Audio)
	}
	for i, c := range prev.Layout {
		res := m.layout[i]
		if res.err != nil {
			return nil, nil, fmt.Errorf("layout[%d]: %w", i, res.err)
		}
		switch {
		case c.RGB != nil:
			rgb := res.rgb
			c.RGB = &rgb
		case c.YUV != nil:
			c.YUV = &[3]float64{math.Round(res.yuv[0]), math.Round(res.yuv[1]), math.Round(res.yuv[2])}
		case c.Reference != nil:
			ref := *c.Reference
			// 3 dB under the measured PSNR leaves room for encoder
			// variation; identical pictures are capped at 50 dB.
			ref.MinPSNR = math.Floor(math.Min(res.psnr, 53) - 3)
			c.Reference = &ref
		}
		e.Layout = append(e.Layout, c)
	}
	if err := updateSync(e, prev.Sync, m); err != nil {
		return nil, nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, nil, fmt.Errorf("the measured expectations do not validate: %w", err)
	}
	return e, evaluate(path, e, m), nil
}

func updateAudio(st *AudioStats, prev *AudioExpect) *AudioExpect {
	thr := DefaultSilenceDbfs
	a := &AudioExpect{}
	if prev != nil && prev.SilenceDbfs != nil {
		thr = *prev.SilenceDbfs
		a.SilenceDbfs = prev.SilenceDbfs
	}
	if st.MeanDbfs <= thr {
		a.MeanDbfs = &Range{Max: ptr(thr)}
		return a
	}
	// Levels vary with the content mixed; ±6 dB tells a working mix from a
	// missing or clipping one.
	a.NotSilent = true
	a.MeanDbfs = &Range{Min: ptr(round(st.MeanDbfs-6, 0.1)), Max: ptr(round(st.MeanDbfs+6, 0.1))}
	a.PeakDbfs = &Range{Min: ptr(round(st.PeakDbfs-6, 0.1)), Max: ptr(round(st.PeakDbfs+3, 0.1))}
	for _, w := range st.Silences(thr, 1) {
		// Shrunk by 0.2 s each side so that timing jitter at the edges
		// does not fail the check.
		from, to := math.Ceil((w.From+0.2)*10)/10, math.Floor((w.To-0.2)*10)/10
		if to > from {
			a.Silence = append(a.Silence, SilenceWindow{From: Seconds(from), To: Seconds(to)})
		}
	}
	return a
}

func updateSync(e *Expect, prev *SyncExpect, m *measurements) error {
	if m.sync == nil || len(m.sync.Peers) == 0 {
		if prev != nil {
			why := "no peer flashes in step with a beep"
			if m.syncErr != nil {
				why = m.syncErr.Error()
			}
			return fmt.Errorf("sync: %s; remove the sync section to write expectations without it", why)
		}
		return nil
	}
	s := &SyncExpect{MinPeers: len(m.sync.Peers)}
	if prev != nil {
		s.Tones, s.Grid = prev.Tones, prev.Grid
	}
	// The goal (OffsetGoalMs) or 10 ms above what was measured, whichever
	// is larger: a good recording's offset is a few milliseconds.
	worst := math.Abs(m.sync.WorstOffset().MaxOffsetMs)
	s.MaxOffsetMs = math.Max(OffsetGoalMs, math.Ceil(worst+10))
	if prev != nil && prev.MaxDriftMsPerHour > 0 {
		w := m.sync.WorstDrift()
		s.MaxDriftMsPerHour = math.Max(prev.MaxDriftMsPerHour, math.Ceil(math.Abs(w.DriftMsPerHour)+2*w.DriftStdErrMsPerHour))
	}
	e.Sync = s
	return nil
}

// round rounds v to a multiple of step (0.1, 0.01, …) that prints short:
// dividing by 1/step, a whole number, does not leave 0.30000000000000004.
func round(v, step float64) float64 {
	k := math.Round(1 / step)
	return math.Round(v*k)/k + 0 // + 0 turns -0 into 0
}

func ptr[T any](v T) *T { return &v }
