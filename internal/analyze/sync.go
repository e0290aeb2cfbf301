package analyze

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/asticode/go-astiav"
)

// Goals of roomcast's A/V sync, which the sync report is held against.
const (
	// OffsetGoalMs is the largest acceptable |A/V offset| of any flash/beep
	// pair.
	OffsetGoalMs = 20.0
	// DriftGoalFrames is the largest acceptable drift, in frames per hour.
	DriftGoalFrames = 1.0
)

// SyncOptions tune AnalyzeSync. The zero value finds everything itself.
type SyncOptions struct {
	// Tones are the beep frequencies in Hz. Empty: the tones found by an
	// audio pass over the file (see AudioStats.Tones).
	Tones []float64
	// Cols and Rows split the frame into a fixed grid of regions, one per
	// peer tile. Zero: regions are found where flashes occur.
	Cols, Rows int
	// FlashStep is the frame-to-frame rise of mean luma (0..255) that counts
	// as a flash; zero means DefaultFlashStep.
	FlashStep float64
}

// SyncPair is one flash and the beep paired with it.
type SyncPair struct {
	Flash    float64 `json:"flash"` // seconds
	Beep     float64 `json:"beep"`  // seconds
	OffsetMs float64 `json:"offsetMs"`
}

// PeerSync is the sync measured for one peer: a flashing region and the tone
// that beeps with it. Offsets are beep minus flash: positive when the audio
// is late.
type PeerSync struct {
	Name    string     `json:"name"`
	Region  Rect       `json:"region"`
	ToneHz  float64    `json:"toneHz"`
	Flashes int        `json:"flashes"`
	Beeps   int        `json:"beeps"`
	Pairs   []SyncPair `json:"pairs"`

	MeanOffsetMs float64 `json:"meanOffsetMs"`
	// MaxOffsetMs is the offset of largest magnitude, with its sign.
	MaxOffsetMs float64 `json:"maxOffsetMs"`
	StdDevMs    float64 `json:"stdDevMs"`
	// DriftMsPerHour is the slope of the offset over time (least squares),
	// and DriftStdErrMsPerHour its standard error: a short clip cannot
	// resolve a drift of one frame per hour, and the error says so.
	DriftMsPerHour       float64 `json:"driftMsPerHour"`
	DriftStdErrMsPerHour float64 `json:"driftStdErrMsPerHour"`
}

// SyncReport is the result of AnalyzeSync.
type SyncReport struct {
	Path     string        `json:"path"`
	FPS      float64       `json:"fps"`
	Duration float64       `json:"duration"`
	Tones    []float64     `json:"tones"`
	Regions  []FlashRegion `json:"-"`
	Peers    []PeerSync    `json:"peers"`
	// UnpairedRegions flash without a tone that beeps with them;
	// UnpairedTones beep without a region that flashes with them.
	UnpairedRegions []Rect    `json:"unpairedRegions"`
	UnpairedTones   []float64 `json:"unpairedTones"`

	OffsetGoalMs       float64 `json:"offsetGoalMs"`
	DriftGoalMsPerHour float64 `json:"driftGoalMsPerHour"`
}

// WorstOffset returns the peer with the largest |MaxOffsetMs|, or nil
// without peers.
func (r *SyncReport) WorstOffset() *PeerSync {
	var worst *PeerSync
	for i := range r.Peers {
		if worst == nil || math.Abs(r.Peers[i].MaxOffsetMs) > math.Abs(worst.MaxOffsetMs) {
			worst = &r.Peers[i]
		}
	}
	return worst
}

// WorstDrift returns the peer with the largest |DriftMsPerHour|, or nil
// without peers.
func (r *SyncReport) WorstDrift() *PeerSync {
	var worst *PeerSync
	for i := range r.Peers {
		if worst == nil || math.Abs(r.Peers[i].DriftMsPerHour) > math.Abs(worst.DriftMsPerHour) {
			worst = &r.Peers[i]
		}
	}
	return worst
}

// AnalyzeSync finds the flashes and beeps of a sync test recording, pairs
// them per peer and measures each peer's A/V offset and drift.
func AnalyzeSync(ctx context.Context, path string, opts SyncOptions) (*SyncReport, error) {
	tones := opts.Tones
	if len(tones) == 0 {
		st, err := MeasureAudio(ctx, path)
		if err != nil {
			return nil, err
		}
		tones = st.Tones
	}
	for _, hz := range tones {
		if hz <= 0 {
			return nil, fmt.Errorf("tone %g Hz is not a frequency", hz)
		}
	}
	if (opts.Cols > 0) != (opts.Rows > 0) || opts.Cols < 0 || opts.Rows < 0 {
		return nil, fmt.Errorf("grid %dx%d: both columns and rows must be positive", opts.Cols, opts.Rows)
	}

	in, err := openInput(path, true, true)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if in.video == nil || in.audio == nil {
		return nil, fmt.Errorf("%s: sync analysis needs a video and an audio stream", path)
	}
	fd := newFlashDetector(opts.FlashStep, opts.Cols, opts.Rows)
	defer fd.close()
	var bank *toneBank
	var buf [][]float32
	var mono []float32
	err = in.run(ctx,
		func(f *astiav.Frame, t float64) error { return fd.add(f, t) },
		func(f *astiav.Frame, t float64) error {
			if len(tones) == 0 {
				return nil
			}
			if bank == nil {
				bank = newToneBank(tones, f.SampleRate())
			}
			buf, err = audioSamples(f, buf)
			if err != nil {
				return fmt.Errorf("audio at %.3fs: %w", t, err)
			}
			mono = mixDown(buf, mono)
			bank.add(mono, t)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}

	rep := &SyncReport{Path: path, Tones: tones, Regions: fd.regions(), OffsetGoalMs: OffsetGoalMs}
	if fr := in.video.st.AvgFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		rep.FPS = fr.Float64()
	}
	if n := len(fd.times); n > 1 && rep.FPS == 0 {
		rep.FPS = float64(n-1) / (fd.times[n-1] - fd.times[0])
	}
	if rep.FPS > 0 {
		rep.DriftGoalMsPerHour = DriftGoalFrames * 1000 / rep.FPS
	}
	if d := in.fc.Duration(); d > 0 {
		rep.Duration = float64(d) / 1e6
	}
	beeps := make([][]float64, len(tones))
	if bank != nil {
		for i, tr := range bank.tones {
			beeps[i] = bank.onsets(tr)
		}
	}
	pairUp(rep, beeps)
	return rep, nil
}

func mixDown(ch [][]float32, dst []float32) []float32 {
	n := len(ch[0])
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	copy(dst, ch[0])
	for _, c := range ch[1:] {
		for i, v := range c {
			dst[i] += v
		}
	}
	if len(ch) > 1 {
		inv := 1 / float32(len(ch))
		for i := range dst {
			dst[i] *= inv
		}
	}
	return dst
}

// pairUp assigns tones to regions and fills in the peers. Each region is
// scored against each tone by how many of its flashes have a beep at a
// consistent offset; the best region/tone combinations are taken greedily.
func pairUp(rep *SyncReport, beeps [][]float64) {
	type cand struct {
		region, tone int
		pairs        []SyncPair
		score        int
	}
	var cands []cand
	for ri, reg := range rep.Regions {
		for ti := range rep.Tones {
			pairs := pairEvents(reg.Times, beeps[ti])
			score := consistent(pairs)
			if score < minFlashes || float64(score) < 0.6*float64(min(len(reg.Times), len(beeps[ti]))) {
				continue
			}
			cands = append(cands, cand{ri, ti, pairs, score})
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	usedR := make([]bool, len(rep.Regions))
	usedT := make([]bool, len(rep.Tones))
	var peers []PeerSync
	regionOf := map[int]int{}
	for _, c := range cands {
		if usedR[c.region] || usedT[c.tone] {
			continue
		}
		usedR[c.region], usedT[c.tone] = true, true
		p := PeerSync{
			Region:  rep.Regions[c.region].Rect,
			ToneHz:  rep.Tones[c.tone],
			Flashes: len(rep.Regions[c.region].Times),
			Beeps:   len(beeps[c.tone]),
			Pairs:   dropOutliers(c.pairs),
		}
		p.stats()
		regionOf[len(peers)] = c.region
		peers = append(peers, p)
	}
	// Name peers in the regions' reading order, which is stable from one
	// run to the next.
	idx := make([]int, len(peers))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return regionOf[idx[a]] < regionOf[idx[b]] })
	for n, i := range idx {
		peers[i].Name = fmt.Sprintf("peer%d", n+1)
		rep.Peers = append(rep.Peers, peers[i])
	}
	for i, used := range usedR {
		if !used {
			rep.UnpairedRegions = append(rep.UnpairedRegions, rep.Regions[i].Rect)
		}
	}
	for i, used := range usedT {
		if !used {
			rep.UnpairedTones = append(rep.UnpairedTones, rep.Tones[i])
		}
	}
}

// pairEvents pairs each flash with its nearest beep when each is the other's
// nearest and they are less than half the events' period apart, so that a
// missing beep leaves its flash unpaired instead of pairing it with the
// neighbouring beep.
func pairEvents(flashes, beeps []float64) []SyncPair {
	if len(flashes) == 0 || len(beeps) == 0 {
		return nil
	}
	maxDist := math.Min(0.5, 0.45*math.Min(medianInterval(flashes), medianInterval(beeps)))
	var out []SyncPair
	for i, f := range flashes {
		j := nearest(beeps, f)
		if math.Abs(beeps[j]-f) > maxDist || nearest(flashes, beeps[j]) != i {
			continue
		}
		out = append(out, SyncPair{Flash: f, Beep: beeps[j], OffsetMs: (beeps[j] - f) * 1000})
	}
	return out
}

func nearest(sorted []float64, v float64) int {
	j := sort.SearchFloat64s(sorted, v)
	if j == len(sorted) || (j > 0 && v-sorted[j-1] <= sorted[j]-v) {
		j--
	}
	return j
}

func medianInterval(ts []float64) float64 {
	if len(ts) < 2 {
		return math.Inf(1)
	}
	d := make([]float64, len(ts)-1)
	for i := range d {
		d[i] = ts[i+1] - ts[i]
	}
	return median(d)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// consistent counts the pairs whose offset is within 67 ms (two frames at
// 30 fps) of the median offset: a region and a tone of the same peer agree
// pair after pair, those of different peers do not.
func consistent(pairs []SyncPair) int {
	offs := make([]float64, len(pairs))
	for i, p := range pairs {
		offs[i] = p.OffsetMs
	}
	m := median(offs)
	n := 0
	for _, o := range offs {
		if math.Abs(o-m) <= 67 {
			n++
		}
	}
	return n
}

// dropOutliers removes pairs far from the median offset (a stray click
// taken for a beep), but leaves a steady drift alone.
func dropOutliers(pairs []SyncPair) []SyncPair {
	offs := make([]float64, len(pairs))
	for i, p := range pairs {
		offs[i] = p.OffsetMs
	}
	m := median(offs)
	dev := make([]float64, len(offs))
	for i, o := range offs {
		dev[i] = math.Abs(o - m)
	}
	limit := math.Max(100, 6*median(dev))
	var out []SyncPair
	for i, p := range pairs {
		if dev[i] <= limit {
			out = append(out, p)
		}
	}
	return out
}

func (p *PeerSync) stats() {
	n := float64(len(p.Pairs))
	if n == 0 {
		return
	}
	var sum, sumT float64
	for _, pr := range p.Pairs {
		sum += pr.OffsetMs
		sumT += pr.Flash
		if math.Abs(pr.OffsetMs) > math.Abs(p.MaxOffsetMs) {
			p.MaxOffsetMs = pr.OffsetMs
		}
	}
	p.MeanOffsetMs = sum / n
	meanT := sumT / n
	var sxx, sxy, syy float64
	for _, pr := range p.Pairs {
		dt, do := (pr.Flash-meanT)/3600, pr.OffsetMs-p.MeanOffsetMs
		sxx += dt * dt
		sxy += dt * do
		syy += do * do
	}
	p.StdDevMs = math.Sqrt(syy / n)
	if len(p.Pairs) >= 3 && sxx > 0 {
		p.DriftMsPerHour = sxy / sxx
		sse := math.Max(0, syy-p.DriftMsPerHour*sxy)
		p.DriftStdErrMsPerHour = math.Sqrt(sse / (n - 2) / sxx)
	}
}

// OffsetOK tells whether every pair is within goalMs.
func (p *PeerSync) OffsetOK(goalMs float64) bool {
	return len(p.Pairs) > 0 && math.Abs(p.MaxOffsetMs) <= goalMs
}

// DriftVerdict holds the drift against goalMsPerHour: "ok", "FAIL", or
// "unresolved" when the measurement's error is larger than the goal, as it
// is on clips of a few minutes.
func (p *PeerSync) DriftVerdict(goalMsPerHour float64) string {
	switch {
	case len(p.Pairs) < 3 || goalMsPerHour <= 0:
		return "n/a"
	case math.Abs(p.DriftMsPerHour)-2*p.DriftStdErrMsPerHour >= goalMsPerHour:
		return "FAIL"
	case math.Abs(p.DriftMsPerHour)+2*p.DriftStdErrMsPerHour < goalMsPerHour:
		return "ok"
	}
	return "unresolved"
}

// WriteText writes the report as a table, one peer a row, and with pairs
// set, every flash/beep pair.
func (r *SyncReport) WriteText(w io.Writer, pairs bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sync analysis of %s: %.2f fps, %.2f s\n", r.Path, r.FPS, r.Duration)
	fmt.Fprintf(&b, "tones: %s; flashing regions: %d\n", joinHz(r.Tones), len(r.Regions))
	fmt.Fprintf(&b, "goals: |offset| <= %.0f ms, |drift| < %.0f frame/h (%.1f ms/h); offset > 0: audio late\n\n",
		r.OffsetGoalMs, DriftGoalFrames, r.DriftGoalMsPerHour)
	if len(r.Peers) == 0 {
		b.WriteString("no peer found: no region flashes in step with a tone\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PEER\tREGION\tTONE\tPAIRS\tMEAN\tMAX\tSTDDEV\tDRIFT\tOFFSET GOAL\tDRIFT GOAL")
		for i := range r.Peers {
			p := &r.Peers[i]
			offGoal := "FAIL"
			if p.OffsetOK(r.OffsetGoalMs) {
				offGoal = "ok"
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f Hz\t%d/%d/%d\t%s ms\t%s ms\t%.1f ms\t%s ± %.0f ms/h\t%s\t%s\n",
				p.Name, p.Region, p.ToneHz, len(p.Pairs), p.Flashes, p.Beeps,
				signed(p.MeanOffsetMs, 1), signed(p.MaxOffsetMs, 1), p.StdDevMs, signed(p.DriftMsPerHour, 0), p.DriftStdErrMsPerHour,
				offGoal, p.DriftVerdict(r.DriftGoalMsPerHour))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		b.WriteString("(PAIRS: paired/flashes/beeps)\n")
	}
	for _, rc := range r.UnpairedRegions {
		fmt.Fprintf(&b, "unpaired flashing region %s\n", rc)
	}
	for _, hz := range r.UnpairedTones {
		fmt.Fprintf(&b, "unpaired tone %.0f Hz\n", hz)
	}
	if pairs {
		for _, p := range r.Peers {
			fmt.Fprintf(&b, "\n%s pairs (flash s, beep s, offset ms):\n", p.Name)
			for _, pr := range p.Pairs {
				fmt.Fprintf(&b, "  %9.3f  %9.3f  %7s\n", pr.Flash, pr.Beep, signed(pr.OffsetMs, 1))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinHz(hz []float64) string {
	if len(hz) == 0 {
		return "none"
	}
	s := make([]string, len(hz))
	for i, v := range hz {
		s[i] = fmt.Sprintf("%.0f Hz", v)
	}
	return strings.Join(s, ", ")
}

// signed formats v with a sign and the given decimals, without the "-0.0"
// that a tiny negative value would print as.
func signed(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Trim(s, "-0.") == "" {
		return "+" + strings.TrimPrefix(s, "-")
	}
	if v > 0 {
		return "+" + s
	}
	return s
}
