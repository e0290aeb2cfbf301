package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/asticode/go-astiav"
)

// Check is one line of a verify report.
type Check struct {
	// Name is the expectation's field, e.g. "streams.video.width" or
	// "layout[1] (bob)".
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// Report is the outcome of Verify.
type Report struct {
	Path   string  `json:"path"`
	Checks []Check `json:"checks"`
}

// Failed returns the checks that did not pass.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// OK tells whether every check passed.
func (r *Report) OK() bool { return len(r.Failed()) == 0 }

// WriteTable writes the checks as an aligned table with a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CHECK\tEXPECTED\tMEASURED\tRESULT\n")
	for _, c := range r.Checks {
		res := "ok"
		if !c.Pass {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, c.Expected, c.Measured, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed := len(r.Failed())
	var err error
	switch {
	case len(r.Checks) == 0:
		_, err = fmt.Fprintf(w, "%s: nothing to check: the expectation file is empty\n", r.Path)
	case failed == 0:
		_, err = fmt.Fprintf(w, "%s: all %d checks passed\n", r.Path, len(r.Checks))
	default:
		_, err = fmt.Fprintf(w, "%s: %d of %d checks FAILED\n", r.Path, failed, len(r.Checks))
	}
	return err
}

// VerifyOptions tune Verify and Update.
type VerifyOptions struct {
	// BaseDir is where relative reference paths of layout checks start,
	// normally the expectation file's folder.
	BaseDir string
}

// measurements are what Verify measured of a recording. A nil part was not
// asked for; a part that could not be measured for a reason the recording
// is to blame for (a missing stream, a region outside the frame) has its
// error set, which fails its checks.
type measurements struct {
	info     *MediaInfo
	audio    *AudioStats
	audioErr error
	sync     *SyncReport
	syncErr  error
	layout   []layoutResult
}

type layoutResult struct {
	err  error
	rect Rect
	yuv  [3]float64
	rgb  Color
	psnr float64
}

// Verify measures the recording at path against exp. It returns an error
// only when it could not measure (an unreadable recording or reference);
// a recording that does not meet exp gives a report with failed checks.
func Verify(ctx context.Context, path string, exp *Expect, opts VerifyOptions) (*Report, error) {
	m, err := measure(ctx, path, exp, opts, false)
	if err != nil {
		return nil, err
	}
	return evaluate(path, exp, m), nil
}

func measure(ctx context.Context, path string, exp *Expect, opts VerifyOptions, all bool) (*measurements, error) {
	info, err := Probe(ctx, path)
	if err != nil {
		return nil, err
	}
	m := &measurements{info: info}
	if all || exp.Audio != nil || exp.Sync != nil {
		if info.Audio == nil {
			m.audioErr = errors.New("no audio stream")
		} else if m.audio, err = MeasureAudio(ctx, path); err != nil {
			return nil, err
		}
	}
	if all || exp.Sync != nil {
		if err := measureSync(ctx, path, exp.Sync, m); err != nil {
			return nil, err
		}
	}
	m.layout = make([]layoutResult, len(exp.Layout))
	frames := map[Seconds]*astiav.Frame{}
	defer func() {
		for _, f := range frames {
			f.Free()
		}
	}()
	for i := range exp.Layout {
		if m.layout[i], err = measureLayout(ctx, path, &exp.Layout[i], info, frames, opts); err != nil {
			return nil, fmt.Errorf("layout[%d]: %w", i, err)
		}
	}
	return m, nil
}

// measureSync fills in m.sync, or m.syncErr when the recording has nothing
// to analyse. It returns an error when the analysis itself fails.
func measureSync(ctx context.Context, path string, se *SyncExpect, m *measurements) error {
	if m.info.Video == nil || m.info.Audio == nil {
		m.syncErr = errors.New("needs a video and an audio stream")
		return nil
	}
	opts := SyncOptions{}
	if se != nil {
		opts.Tones = se.Tones
		if se.Grid != "" {
			opts.Cols, opts.Rows, _ = ParseGrid(se.Grid)
		}
	}
	if len(opts.Tones) == 0 && m.audio != nil {
		opts.Tones = m.audio.Tones
	}
	if len(opts.Tones) == 0 {
		m.syncErr = errors.New("no beep tones in the audio")
		return nil
	}
	var err error
	m.sync, err = AnalyzeSync(ctx, path, opts)
	return err
}

func measureLayout(ctx context.Context, path string, c *LayoutCheck, info *MediaInfo, frames map[Seconds]*astiav.Frame, opts VerifyOptions) (layoutResult, error) {
	var res layoutResult
	if info.Video == nil {
		res.err = errors.New("no video stream")
		return res, nil
	}
	if d := info.Duration; d > 0 && float64(c.At) >= d {
		res.err = fmt.Errorf("%.2f s is past the end (%.2f s)", float64(c.At), d)
		return res, nil
	}
	f := frames[c.At]
	if f == nil {
		var err error
		if f, err = grabFrame(ctx, path, float64(c.At)); err != nil {
			return res, err
		}
		frames[c.At] = f
	}
	res.rect = c.Region.pixelRect(f.Width(), f.Height())
	r := res.rect
	if r.W <= 0 || r.H <= 0 || r.X+r.W > f.Width() || r.Y+r.H > f.Height() {
		res.err = fmt.Errorf("region %s is outside the %dx%d frame", r, f.Width(), f.Height())
		return res, nil
	}
	th, err := thumbnail(f, r, 0, 0)
	if err != nil {
		return res, err
	}
	defer th.Free()
	if res.yuv, err = meanYUV(th); err != nil {
		return res, err
	}
	res.rgb = yuvToRGB(res.yuv, info.Video.BT709, info.Video.FullRange)
	if ref := c.Reference; ref != nil {
		src, at := ref.Image, 0.0
		if ref.Clip != "" {
			src, at = ref.Clip, float64(c.At)
			if ref.At != nil {
				at = float64(*ref.At)
			}
		}
		if !filepath.IsAbs(src) && opts.BaseDir != "" {
			src = filepath.Join(opts.BaseDir, src)
		}
		rf, err := grabFrame(ctx, src, at)
		if err != nil {
			return res, fmt.Errorf("reference: %w", err)
		}
		defer rf.Free()
		rth, err := thumbnail(rf, Rect{}, th.Width(), th.Height())
		if err != nil {
			return res, fmt.Errorf("reference %s: %w", src, err)
		}
		defer rth.Free()
		if res.psnr, err = psnr(th, rth); err != nil {
			return res, err
		}
	}
	return res, nil
}

// evaluate turns measurements into checks against exp.
func evaluate(path string, exp *Expect, m *measurements) *Report {
	r := &Report{Path: path}
	add := func(name, want, got string, pass bool) {
		r.Checks = append(r.Checks, Check{Name: name, Expected: want, Measured: got, Pass: pass})
	}
	if s := exp.Streams; s != nil {
		if v := s.Video; v != nil {
			vi := m.info.Video
			if vi == nil {
				add("streams.video", "a video stream", "none", false)
			} else {
				if v.Codec != "" {
					add("streams.video.codec", v.Codec, vi.Codec, strings.EqualFold(v.Codec, vi.Codec))
				}
				if v.Width != 0 {
					add("streams.video.width", fmt.Sprint(v.Width), fmt.Sprint(vi.Width), v.Width == vi.Width)
				}
				if v.Height != 0 {
					add("streams.video.height", fmt.Sprint(v.Height), fmt.Sprint(vi.Height), v.Height == vi.Height)
				}
				if v.FPS != 0 {
					tol := v.FPSTolerance
					if tol == 0 {
						tol = v.FPS / 100
					}
					add("streams.video.fps", fmt.Sprintf("%s ± %s", num(v.FPS), num(tol)), num(vi.FPS), math.Abs(vi.FPS-v.FPS) <= tol)
				}
			}
		}
		if a := s.Audio; a != nil {
			ai := m.info.Audio
			if ai == nil {
				add("streams.audio", "an audio stream", "none", false)
			} else {
				if a.Codec != "" {
					add("streams.audio.codec", a.Codec, ai.Codec, strings.EqualFold(a.Codec, ai.Codec))
				}
				if a.Profile != "" {
					add("streams.audio.profile", a.Profile, orNone(ai.Profile), strings.EqualFold(a.Profile, ai.Profile))
				}
				if a.SampleRate != 0 {
					add("streams.audio.sampleRate", fmt.Sprint(a.SampleRate), fmt.Sprint(ai.SampleRate), a.SampleRate == ai.SampleRate)
				}
				if a.Channels != 0 {
					add("streams.audio.channels", fmt.Sprint(a.Channels), fmt.Sprint(ai.Channels), a.Channels == ai.Channels)
				}
			}
		}
	}
	if d := exp.Duration; d != nil {
		tol := float64(d.Tolerance)
		if tol == 0 {
			tol = DefaultDurationTolerance
		}
		add("duration", fmt.Sprintf("%.2f s ± %s", float64(d.Seconds), num(tol)), fmt.Sprintf("%.2f s", m.info.Duration),
			math.Abs(m.info.Duration-float64(d.Seconds)) <= tol)
	}
	if a := exp.Audio; a != nil {
		evalAudio(a, m, add)
	}
	for i := range exp.Layout {
		evalLayout(i, &exp.Layout[i], m.layout[i], add)
	}
	if s := exp.Sync; s != nil {
		evalSync(s, m, add)
	}
	return r
}

type addFunc func(name, want, got string, pass bool)

func evalAudio(a *AudioExpect, m *measurements, add addFunc) {
	thr := DefaultSilenceDbfs
	if a.SilenceDbfs != nil {
		thr = *a.SilenceDbfs
	}
	if m.audio == nil {
		add("audio", "an audio stream", errString(m.audioErr), false)
		return
	}
	st := m.audio
	if a.NotSilent {
		add("audio.notSilent", fmt.Sprintf("> %.1f dBFS", thr), dbString(st.MeanDbfs), st.MeanDbfs > thr)
	}
	if rg := a.MeanDbfs; rg != nil {
		add("audio.meanDbfs", rg.String()+" dBFS", dbString(st.MeanDbfs), rg.contains(st.MeanDbfs))
	}
	if rg := a.PeakDbfs; rg != nil {
		add("audio.peakDbfs", rg.String()+" dBFS", dbString(st.PeakDbfs), rg.contains(st.PeakDbfs))
	}
	for i, w := range a.Silence {
		lvl := st.MaxLevel(Window{From: float64(w.From), To: float64(w.To)})
		add(fmt.Sprintf("audio.silence[%d]", i),
			fmt.Sprintf("< %.1f dBFS in %.2f-%.2f s", thr, float64(w.From), float64(w.To)),
			"loudest "+dbString(lvl), lvl < thr)
	}
}

func evalLayout(i int, c *LayoutCheck, res layoutResult, add addFunc) {
	name := fmt.Sprintf("layout[%d]", i)
	if label := strings.TrimSpace(strings.Join(nonEmpty(c.Peer, c.Name), ", ")); label != "" {
		name += " (" + label + ")"
	}
	where := fmt.Sprintf(" at %.2f s in %s", float64(c.At), res.rect)
	if res.err != nil {
		add(name, describeLayout(c)+where, res.err.Error(), false)
		return
	}
	maxd := c.MaxDistance
	if maxd == 0 {
		maxd = DefaultMaxColorDistance
	}
	switch {
	case c.RGB != nil:
		want := [3]float64{float64(c.RGB[0]), float64(c.RGB[1]), float64(c.RGB[2])}
		got := [3]float64{float64(res.rgb[0]), float64(res.rgb[1]), float64(res.rgb[2])}
		d := distance(want, got)
		add(name, fmt.Sprintf("rgb %s ±%s%s", c.RGB, num(maxd), where), fmt.Sprintf("rgb %s (distance %.1f)", res.rgb, d), d <= maxd)
	case c.YUV != nil:
		d := distance(*c.YUV, res.yuv)
		add(name, fmt.Sprintf("yuv %s ±%s%s", yuvString(*c.YUV), num(maxd), where), fmt.Sprintf("yuv %s (distance %.1f)", yuvString(res.yuv), d), d <= maxd)
	case c.Reference != nil:
		add(name, describeLayout(c)+where, fmt.Sprintf("PSNR %s dB (rgb %s)", dbNum(res.psnr), res.rgb), res.psnr >= c.Reference.MinPSNR)
	}
}

func describeLayout(c *LayoutCheck) string {
	switch {
	case c.RGB != nil:
		return "rgb " + c.RGB.String()
	case c.YUV != nil:
		return "yuv " + yuvString(*c.YUV)
	case c.Reference != nil && c.Reference.Image != "":
		return fmt.Sprintf("PSNR >= %s dB vs %s", num(c.Reference.MinPSNR), c.Reference.Image)
	case c.Reference != nil:
		at := "same time"
		if c.Reference.At != nil {
			at = fmt.Sprintf("%.2f s", float64(*c.Reference.At))
		}
		return fmt.Sprintf("PSNR >= %s dB vs %s @ %s", num(c.Reference.MinPSNR), c.Reference.Clip, at)
	}
	return ""
}

func evalSync(s *SyncExpect, m *measurements, add addFunc) {
	minPeers := s.MinPeers
	if minPeers == 0 {
		minPeers = 1
	}
	if m.sync == nil {
		add("sync", "flash/beep pairs", errString(m.syncErr), false)
		return
	}
	rep := m.sync
	add("sync.minPeers", fmt.Sprintf(">= %d peers", minPeers), peerList(rep), len(rep.Peers) >= minPeers)
	if w := rep.WorstOffset(); w != nil {
		add("sync.maxOffsetMs", fmt.Sprintf("|offset| <= %s ms", num(s.MaxOffsetMs)),
			fmt.Sprintf("%s ms (%s, mean %s ms)", signed(w.MaxOffsetMs, 1), w.Name, signed(w.MeanOffsetMs, 1)), math.Abs(w.MaxOffsetMs) <= s.MaxOffsetMs)
	} else {
		add("sync.maxOffsetMs", fmt.Sprintf("|offset| <= %s ms", num(s.MaxOffsetMs)), "no flash/beep pairs", false)
	}
	if s.MaxDriftMsPerHour > 0 {
		if w := rep.WorstDrift(); w != nil {
			add("sync.maxDriftMsPerHour", fmt.Sprintf("|drift| <= %s ms/h", num(s.MaxDriftMsPerHour)),
				fmt.Sprintf("%s ± %.0f ms/h (%s)", signed(w.DriftMsPerHour, 0), w.DriftStdErrMsPerHour, w.Name),
				math.Abs(w.DriftMsPerHour) <= s.MaxDriftMsPerHour)
		} else {
			add("sync.maxDriftMsPerHour", fmt.Sprintf("|drift| <= %s ms/h", num(s.MaxDriftMsPerHour)), "no flash/beep pairs", false)
		}
	}
}

func peerList(rep *SyncReport) string {
	if len(rep.Peers) == 0 {
		return "0 peers"
	}
	parts := make([]string, len(rep.Peers))
	for i, p := range rep.Peers {
		parts[i] = fmt.Sprintf("%s %.0f Hz", p.Region, p.ToneHz)
	}
	return fmt.Sprintf("%d peers: %s", len(rep.Peers), strings.Join(parts, ", "))
}

func (r *Range) contains(v float64) bool {
	return (r.Min == nil || v >= *r.Min) && (r.Max == nil || v <= *r.Max)
}

func (r *Range) String() string {
	switch {
	case r.Min != nil && r.Max != nil:
		return fmt.Sprintf("%s..%s", num(*r.Min), num(*r.Max))
	case r.Min != nil:
		return ">= " + num(*r.Min)
	case r.Max != nil:
		return "<= " + num(*r.Max)
	}
	return "any"
}

// num formats a number without trailing zeros.
func num(v float64) string { return fmt.Sprintf("%.6g", v) }

func dbNum(v float64) string {
	if math.IsInf(v, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.1f", v)
}

func dbString(v float64) string {
	if v <= floorDbfs {
		return "silent (digital zero)"
	}
	return fmt.Sprintf("%.1f dBFS", v)
}

func yuvString(v [3]float64) string { return fmt.Sprintf("[%.0f, %.0f, %.0f]", v[0], v[1], v[2]) }

func errString(err error) string {
	if err == nil {
		return "not measured"
	}
	return err.Error()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}
