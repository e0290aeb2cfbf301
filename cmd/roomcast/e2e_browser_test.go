package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/analyze"
	"github.com/roomcast/roomcast/internal/browser"
	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/worker"
)

// Browser publishers: headless Chromium tabs running livekit-client, with
// Chromium's fake camera and microphone fed from media the test makes
// (internal/browser), in rooms of a real livekit-server (lktest.Version).

// browserPeer is one Chromium with one tab that joined a room.
type browserPeer struct {
	b    *browser.Browser
	page *browser.Page
	name string
}

// launchBrowser starts a Chromium whose fake devices play m; it closes when
// the test ends.
func launchBrowser(t *testing.T, ctx context.Context, name string, m browser.Media) *browser.Browser {
	t.Helper()
	files, err := browser.MakeMedia(ctx, t.TempDir(), name, m)
	if err != nil {
		t.Fatal(err)
	}
	return launchBrowserWith(t, ctx, name, files)
}

func launchBrowserWith(t *testing.T, ctx context.Context, name string, files browser.Files) *browser.Browser {
	t.Helper()
	b, err := browser.Launch(ctx, browser.Options{Media: files, Logf: browserLog(t, name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// browserLog keeps the pages' console for a failed test's log.
func browserLog(t *testing.T, name string) func(string, ...any) {
	var mu = make(chan struct{}, 1)
	var lines []string
	t.Cleanup(func() {
		mu <- struct{}{}
		defer func() { <-mu }()
		if t.Failed() {
			start := max(0, len(lines)-60)
			for _, l := range lines[start:] {
				t.Log(l)
			}
		}
	})
	return func(format string, args ...any) {
		mu <- struct{}{}
		lines = append(lines, name+" "+fmt.Sprintf(format, args...))
		<-mu
	}
}

// joinBrowser opens a tab as identity and joins room with camera and mic.
func joinBrowser(t *testing.T, ctx context.Context, lk *lktest.Server, b *browser.Browser, room, identity string, o browser.JoinOptions) *browserPeer {
	t.Helper()
	page, err := b.Open(ctx, identity)
	if err != nil {
		t.Fatal(err)
	}
	rejoin(t, ctx, lk, page, room, identity, o)
	return &browserPeer{b: b, page: page, name: identity}
}

func rejoin(t *testing.T, ctx context.Context, lk *lktest.Server, page *browser.Page, room, identity string, o browser.JoinOptions) {
	t.Helper()
	tok, err := lk.Token(room, identity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := page.Join(ctx, lk.WSURL(), tok, o); err != nil {
		t.Fatal(err)
	}
}

// lipSyncRun is one measured run: offsets in ms, beep − flash. recorded,
// source and added are medians over the flashes where the source was
// steady (steadyFlashes); over all flashes seen in both, the median and
// mean of added are kept beside them (allAdded, meanAdded).
type lipSyncRun struct {
	recorded, source, added float64
	allAdded, meanAdded     float64
	pairs, steady           int
	maxDev                  float64 // largest |added − the run's| over the steady flashes
	// gridQ is how far the output's frame grid moved the flashes (ms,
	// gridPhase), over gridN of them: added + gridQ is roomcast's timing
	// without the grid's share.
	gridQ    float64
	gridN    int
	perFlash []string
	flashes  []flashOffset
}

// flashOffset is one flash matched in the recording and the page: its time
// in the recording (s) and its offsets there and at the source (ms).
type flashOffset struct{ at, recorded, source float64 }

func (f flashOffset) added() float64 { return f.recorded - f.source }

// steadyFlashes are the flashes whose source offset is within steadyTol of
// that of every flash in the steadyFor before it, with at least 3 of them.
// Chromium's capture under load is not steady: the page's offset steps by
// 10 to 150 ms within a run, and the recording follows such a step only at
// the next sender report, which LiveKit sends every 3 s. Only where the
// source held still can the recording be compared with it; this also
// leaves out the first 3 s, timed by arrival before any report came.
func steadyFlashes(fs []flashOffset) []flashOffset {
	const steadyFor, steadyTol = 3.5, 5.0
	var out []flashOffset
	for i, f := range fs {
		n, ok := 0, true
		for j := i - 1; j >= 0 && fs[j].at >= f.at-steadyFor; j-- {
			n++
			ok = ok && math.Abs(fs[j].source-f.source) <= steadyTol
		}
		if ok && n >= 3 {
			out = append(out, f)
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runBrowserLipSync records a room of one browser publisher for dur and
// measures the recorded offset against the page's own.
func runBrowserLipSync(t *testing.T, ctx context.Context, lk *lktest.Server, media browser.Files, run int, dur time.Duration, fps int) (lipSyncRun, bool) {
	t.Helper()
	b := launchBrowserWith(t, ctx, "sync", media)
	defer b.Close()
	room := fmt.Sprintf("lipsync-%d", run)
	p := joinBrowser(t, ctx, lk, b, room, "flasher", browser.JoinOptions{})
	if err := p.page.StartProbe(ctx); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if keep := os.Getenv("ROOMCAST_LIPSYNC_KEEP"); keep != "" {
		out = filepath.Join(keep, room)
	}
	rec := startRoomcast(t, lkEnv(), "record", "--room", lk.URL(room), "--record", "--resolution", "640x360", "--log-level", "debug", "--fps", strconv.Itoa(fps),
		"--duration", dur.String(), "--out", out)
	if err := rec.wait(t, dur+60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	src, err := p.page.Probe(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ROOMCAST_LIPSYNC_LOG") != "" {
		t.Logf("roomcast log:\n%s", rec.stderr.String())
		t.Logf("livekit-server log:\n%s", lk.Logs())
	}
	// The log beside the recording: measureLipSync reads the camera
	// frames' job times from it.
	if err := os.WriteFile(filepath.Join(out, "roomcast.log"), rec.stderr.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ROOMCAST_LIPSYNC_KEEP") != "" {
		// Beside the recording, for comparing runs afterwards.
		js, _ := json.Marshal(src)
		for name, b := range map[string][]byte{"source.json": js} {
			if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return measureLipSync(t, ctx, out, src, run, dur, fps)
}

// measureLipSync compares the recording in out with the page's probe.
func measureLipSync(t *testing.T, ctx context.Context, out string, src browser.SourceSync, run int, dur time.Duration, fps int) (lipSyncRun, bool) {
	t.Helper()
	pairs := analyzeInSegments(t, ctx, filepath.Join(out, "recording.mp4"), dur, 1000)
	r, ok := matchSyncPairs(pairs, src.Pairs)
	if !ok || r.steady < 2 {
		t.Errorf("run %d: only %d flashes of the recording matched the page's where the source was steady, want 2 or more (%d matched; recording %+v, page %+v)",
			run, r.steady, r.pairs, pairs, src.Pairs)
		return r, false
	}
	t.Logf("run %d: recorded %+.1f ms, source %+.1f ms, added %+.1f ms (medians over the %d of %d flashes seen in both where the source was steady; added per flash within ±%.1f ms of it; over all %d, median %+.1f ms, mean %+.1f ms)",
		run, r.recorded, r.source, r.added, r.steady, r.pairs, r.maxDev, r.pairs, r.allAdded, r.meanAdded)
	t.Logf("run %d: added per flash (output time: ms) %v", run, r.perFlash)
	if log, err := os.ReadFile(filepath.Join(out, "roomcast.log")); err == nil {
		var flashes []float64
		for _, p := range src.Pairs {
			flashes = append(flashes, p.Flash)
		}
		r.gridQ, r.gridN = gridPhase(log, flashes, fps)
		if r.gridN > 0 {
			t.Logf("run %d: added %+.1f ms without the output's frame grid, which showed the flashes %+.1f ms from their frames' times (median of %d flashes found in the log)",
				run, r.added+r.gridQ, r.gridQ, r.gridN)
		}
	}
	var slips []string
	for _, p := range src.Pairs {
		slips = append(slips, fmt.Sprintf("%.0f", p.SlipMs))
	}
	t.Logf("run %d: the page's microphone capture times against its samples: %+.1f … %+.1f ms over the run; at each beep %v",
		run, src.SlipMinMs, src.SlipMaxMs, slips)
	return r, true
}

// analyzeInSegments runs the sync analysis over 5 s pieces of a recording
// of one peer and returns the pairs on the recording's time. The source's
// offset wanders within a run (see matchSyncPairs), by more than
// AnalyzeSync's pairing allows over a whole run; over 5 s it stays within.
func analyzeInSegments(t *testing.T, ctx context.Context, mp4 string, dur time.Duration, tone float64) []analyze.SyncPair {
	t.Helper()
	const seg = 5.0
	dir := t.TempDir()
	var all []analyze.SyncPair
	for start := 0.0; start+3 <= dur.Seconds(); start += seg {
		piece := filepath.Join(dir, fmt.Sprintf("seg-%02.0f.mp4", start))
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-ss", fmt.Sprint(start), "-t", fmt.Sprint(seg),
			"-i", mp4, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-threads", "1", "-c:a", "pcm_s16le", strings.TrimSuffix(piece, ".mp4")+".mov")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cutting %s at %.0fs: %v\n%s", mp4, start, err, out)
		}
		rep, err := analyze.AnalyzeSync(ctx, strings.TrimSuffix(piece, ".mp4")+".mov", analyze.SyncOptions{Tones: []float64{tone}, Cols: 1, Rows: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Peers) != 1 {
			t.Logf("%s from %.0fs: no flashes in step with beeps (%d regions, unpaired %v)", filepath.Base(mp4), start, len(rep.Regions), rep.UnpairedTones)
			continue
		}
		for _, p := range rep.Peers[0].Pairs {
			p.Flash += start
			p.Beep += start
			all = append(all, p)
		}
	}
	return all
}

// matchSyncPairs finds the flashes of the recording (seconds of output)
// that are the page's (ms of capture clock), and compares their offsets one
// by one: Chromium's fake devices are not steady (the camera's frames come
// a little slower than 30 fps, and the microphone skips now and then), so
// the source's offset wanders within a run, and only the same events can
// be compared. The two clocks differ by a constant, the pipeline's video
// latency, found as the shift that matches the most flashes to within a
// frame.
func matchSyncPairs(rec []analyze.SyncPair, src []browser.SourcePair) (lipSyncRun, bool) {
	const tol = 0.040 // s; flashes land on the output's frames, and the camera is not steady
	// The page's flashes in seconds, sorted, so that each shift is
	// counted in n log n: a 10-minute room has 600 flashes.
	at := make([]float64, len(src))
	for i, sp := range src {
		at[i] = sp.Flash / 1000
	}
	slices.Sort(at)
	near := func(t float64) bool {
		i, _ := slices.BinarySearch(at, t)
		return i < len(at) && at[i]-t < tol || i > 0 && t-at[i-1] < tol
	}
	// The shift is one of the first recorded flashes' to one of the
	// page's.
	best, bestN := 0.0, 0
	for _, rp := range rec[:min(len(rec), 20)] {
		for _, a := range at {
			shift, n := a-rp.Flash, 0
			for _, rq := range rec {
				if near(rq.Flash + shift) {
					n++
				}
			}
			if n > bestN {
				best, bestN = shift, n
			}
		}
	}
	var r lipSyncRun
	for _, rp := range rec {
		for _, sp := range src {
			if math.Abs(sp.Flash/1000-best-rp.Flash) < tol {
				r.flashes = append(r.flashes, flashOffset{rp.Flash, rp.OffsetMs, sp.OffsetMs})
				r.perFlash = append(r.perFlash, fmt.Sprintf("%.1fs:%+.0f(src %.0f)", rp.Flash, rp.OffsetMs-sp.OffsetMs, sp.OffsetMs))
				break
			}
		}
	}
	if len(r.flashes) == 0 {
		return r, false
	}
	slices.SortFunc(r.flashes, func(a, b flashOffset) int { return cmp.Compare(a.at, b.at) })
	var all []float64
	for _, f := range r.flashes {
		all = append(all, f.added())
		r.meanAdded += f.added() / float64(len(r.flashes))
	}
	r.allAdded, r.pairs = median(all), len(all)
	steady := steadyFlashes(r.flashes)
	r.steady = len(steady)
	if len(steady) == 0 {
		return r, false
	}
	var recorded, source, added []float64
	for _, f := range steady {
		recorded, source, added = append(recorded, f.recorded), append(source, f.source), append(added, f.added())
	}
	r.recorded, r.source, r.added = median(recorded), median(source), median(added)
	for _, a := range added {
		r.maxDev = max(r.maxDev, math.Abs(a-r.added))
	}
	return r, true
}

// TestBrowserLipSync: a browser publishing at the SDK's defaults (simulcast
// camera, RED audio) is recorded with its audio and video where the browser
// captured them: the recorded offset is within 15 ms of the page's own,
// measured before the encoders. ROOMCAST_LIPSYNC_RUNS=10 runs it ten times
// (not in make test: about 5 minutes) and checks the spread of the added
// part too: at most 10 ms. ROOMCAST_LIPSYNC_SECONDS=600 makes a long room,
// checked for drift between its first and last minute (about 15 minutes);
// ROOMCAST_LIPSYNC_FPS sets the output rate; ROOMCAST_LIPSYNC_KEEP=DIR
// keeps each run's recording, roomcast's debug log and the page's probe,
// and ROOMCAST_LIPSYNC_REANALYZE=DIR measures such kept runs again.
func TestBrowserLipSync(t *testing.T) {
	runs := 1
	if s := os.Getenv("ROOMCAST_LIPSYNC_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ROOMCAST_LIPSYNC_RUNS=%q: want a whole number of runs, 1 or more", s)
		}
		runs = n
	}
	dur := 16 * time.Second
	if s := os.Getenv("ROOMCAST_LIPSYNC_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 6 {
			t.Fatalf("ROOMCAST_LIPSYNC_SECONDS=%q: want a whole number of seconds, 6 or more", s)
		}
		dur = time.Duration(n) * time.Second
	}
	// The output's frame grid places each frame up to half a frame early
	// or late (the compositor shows the nearest): that much of the offset
	// is the frame rate's, not roomcast's timing. ROOMCAST_LIPSYNC_FPS=60
	// (the most --fps allows) halves it.
	fps := 30
	if s := os.Getenv("ROOMCAST_LIPSYNC_FPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 60 {
			t.Fatalf("ROOMCAST_LIPSYNC_FPS=%q: want a frame rate from 1 to 60, as --fps allows", s)
		}
		fps = n
	}
	halfFrame := 500.0 / float64(fps)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*(dur+dur/2+90*time.Second))
	defer cancel()
	var all []lipSyncRun
	defer func() {
		for i, r := range all {
			t.Logf("summary %d: recorded %+.1f source %+.1f added %+.1f (%d steady flashes of %d; over all: median %+.1f, mean %+.1f)",
				i+1, r.recorded, r.source, r.added, r.steady, r.pairs, r.allAdded, r.meanAdded)
		}
	}()
	if dir := os.Getenv("ROOMCAST_LIPSYNC_REANALYZE"); dir != "" {
		// The runs a ROOMCAST_LIPSYNC_KEEP kept, measured again.
		all = reanalyzeLipSync(t, ctx, dir, dur, fps)
		checkLipSync(t, all, dur, halfFrame)
		return
	}
	lk := startLiveKit(t)
	// The loop is longer than a run: where Chromium's fake camera wraps
	// around its file, its frames' capture times step by a frame against
	// their RTP timestamps, and the page's probe would see a step the
	// recording does not. Past two minutes the camera is 320x180, which
	// keeps the file under 2 GB for a 10-minute room.
	cam := browser.Media{Width: 640, Height: 360, ToneHz: 1000, DurationS: dur.Seconds() + 6}
	if dur > 2*time.Minute {
		cam.Width, cam.Height = 320, 180
	}
	media, err := browser.MakeMedia(ctx, t.TempDir(), "sync", cam)
	if err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		if r, ok := runBrowserLipSync(t, ctx, lk, media, i+1, dur, fps); ok {
			all = append(all, r)
		}
	}
	checkLipSync(t, all, dur, halfFrame)
}

// reanalyzeLipSync measures the runs kept in dir (lipsync-N, each with
// its recording.mp4 and the page's source.json).
func reanalyzeLipSync(t *testing.T, ctx context.Context, dir string, dur time.Duration, fps int) []lipSyncRun {
	t.Helper()
	var all []lipSyncRun
	for run := 1; ; run++ {
		out := filepath.Join(dir, fmt.Sprintf("lipsync-%d", run))
		b, err := os.ReadFile(filepath.Join(out, "source.json"))
		if os.IsNotExist(err) && run > 1 {
			return all
		}
		if err != nil {
			t.Fatalf("ROOMCAST_LIPSYNC_REANALYZE=%s: %v", dir, err)
		}
		var src browser.SourceSync
		if err := json.Unmarshal(b, &src); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		if r, ok := measureLipSync(t, ctx, out, src, run, dur, fps); ok {
			all = append(all, r)
		}
	}
}

// checkLipSync holds the runs to the targets.
func checkLipSync(t *testing.T, all []lipSyncRun, dur time.Duration, halfFrame float64) {
	t.Helper()
	runs := len(all)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range all {
		// One run is held to 15 ms plus an output frame: the added part
		// still moves by up to a frame from run to run (see the report of
		// issue 16); the ten-run measurement holds the targets.
		tol := 15 + 2*halfFrame
		if runs > 1 {
			tol = 15
		}
		if math.Abs(r.added) > tol {
			t.Errorf("run %d: the recording's offset %+.1f ms is %+.1f ms from the source's %+.1f ms, want within %.1f ms",
				i+1, r.recorded, r.added, r.source, tol)
		}
		lo, hi = min(lo, r.added), max(hi, r.added)
	}
	// A long room (ROOMCAST_LIPSYNC_SECONDS=600) is checked for drift: the
	// added offset over its last minute against its first, within one
	// output frame.
	if dur >= 3*time.Minute {
		for i, r := range all {
			var first, last []float64
			// Every matched flash: over ten minutes Chromium's capture
			// rarely holds still for 3.5 s on a loaded machine, and a
			// minute's median is robust to the report's lag.
			for _, f := range r.flashes {
				switch {
				case f.at < 60:
					first = append(first, f.added())
				case f.at > dur.Seconds()-60:
					last = append(last, f.added())
				}
			}
			if len(first) < 5 || len(last) < 5 {
				t.Errorf("run %d: %d flashes matched in the first minute and %d in the last, want 5 or more in each", i+1, len(first), len(last))
				continue
			}
			f, l := median(first), median(last)
			t.Logf("run %d: added offset %+.1f ms over the first minute (%d flashes), %+.1f ms over the last (%d flashes): drift %+.1f ms in %v",
				i+1, f, len(first), l, len(last), l-f, dur)
			if math.Abs(l-f) >= 2*halfFrame {
				t.Errorf("run %d: the offset drifted %+.1f ms over %v, want less than a frame (%.1f ms)", i+1, l-f, dur, 2*halfFrame)
			}
		}
	}
	if runs > 1 {
		glo, ghi, gn := math.Inf(1), math.Inf(-1), 0
		for _, r := range all {
			if r.gridN > 0 {
				glo, ghi, gn = min(glo, r.added+r.gridQ), max(ghi, r.added+r.gridQ), gn+1
			}
		}
		if gn > 1 {
			t.Logf("added offset without the output's frame grid over %d runs: %+.1f … %+.1f ms (spread %.1f ms)", gn, glo, ghi, ghi-glo)
		}
		t.Logf("added offset over %d runs: %+.1f … %+.1f ms (spread %.1f ms)", runs, lo, hi, hi-lo)
		if hi-lo > 10 {
			t.Errorf("the added offset spreads %.1f ms over %d runs, want at most 10 ms", hi-lo, runs)
		}
	}
}

var videoFrameRE = regexp.MustCompile(`msg="video frame" .* t=(\S+) `)

// gridPhase is how far the output's frame grid moved the page's flashes
// (ms of its capture clock) in the recording. Each flash's camera frame is
// found among the "video frame" lines of roomcast's debug log, by its job
// time t; the compositor shows each output frame's nearest camera frame,
// so the first output frame to show it lies q = [−½, +½) frame from t.
// The capture clock and the job's differ by a constant, the shift that
// puts the most flashes within 4 ms of a frame. It returns the median q
// over the flashes found from 3 s on (as the steady flashes are), in ms,
// and their number. The recorded offset (audio − video) carries −q.
func gridPhase(log []byte, flashes []float64, fps int) (float64, int) {
	var ts []float64
	for _, m := range videoFrameRE.FindAllSubmatch(log, -1) {
		if d, err := time.ParseDuration(string(m[1])); err == nil {
			ts = append(ts, float64(d)/float64(time.Millisecond))
		}
	}
	if len(ts) == 0 || len(flashes) == 0 {
		return 0, 0
	}
	slices.Sort(ts)
	nearest := func(x float64) float64 {
		i, _ := slices.BinarySearch(ts, x)
		best := math.Inf(1)
		for _, j := range []int{i - 1, i} {
			if j >= 0 && j < len(ts) && math.Abs(ts[j]-x) < math.Abs(best-x) {
				best = ts[j]
			}
		}
		return best
	}
	const tol = 4.0
	shift, most := 0.0, 0
	for _, t := range ts {
		c, n := flashes[0]-t, 0
		for _, f := range flashes {
			if math.Abs(nearest(f-c)-(f-c)) < tol {
				n++
			}
		}
		if n > most {
			shift, most = c, n
		}
	}
	fd := 1000 / float64(fps)
	var qs []float64
	for _, f := range flashes {
		t := nearest(f - shift)
		if math.Abs(t-(f-shift)) >= tol || t < 3000 {
			continue
		}
		qs = append(qs, math.Ceil((t-fd/2+1e-6)/fd)*fd-t)
	}
	if len(qs) == 0 {
		return 0, 0
	}
	return median(qs), len(qs)
}

// layerLine is one "video layer" line of roomcast's log.
type layerLine struct {
	peer, quality string
	top           bool
	w, h          int
	after         time.Duration // since the track was added
	at            time.Time     // the line's own time
}

var layerRE = regexp.MustCompile(`time=(\S+) level=INFO msg="video layer".* peer=(\S+) track=\S+ quality=(\S*) top=(\S+) width=(\d+) height=(\d+) changes=\d+ after=(\S+)`)

func layerLines(log string) []layerLine {
	var out []layerLine
	for _, m := range layerRE.FindAllStringSubmatch(log, -1) {
		at, _ := time.Parse(time.RFC3339Nano, m[1])
		w, _ := strconv.Atoi(m[5])
		h, _ := strconv.Atoi(m[6])
		after, _ := time.ParseDuration(m[7])
		out = append(out, layerLine{peer: m[2], quality: m[3], top: m[4] == "true", w: w, h: h, after: after, at: at})
	}
	return out
}

// TestBrowserSimulcastLayers: a browser's 640x360 camera is published in
// two layers (320x180 and 640x360). Alone in a 640x360 recording its tile
// is the whole frame, and roomcast receives the top layer within 1 s of the
// track appearing; once three more peers join, the grid's tiles are
// 320x180 and it switches to the low layer. Both show in the log and in
// status.json's stats.peers.
func TestBrowserSimulcastLayers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lk := startLiveKit(t)
	room := "simulcast"
	b := launchBrowser(t, ctx, "cam", browser.Media{Width: 640, Height: 360, Color: "0xC03030", NoFlash: true})
	cam := joinBrowser(t, ctx, lk, b, room, "browser", browser.JoinOptions{})
	out := t.TempDir()
	recStart := time.Now()
	rec := startRoomcast(t, lkEnv(), "record", "--room", lk.URL(room), "--record", "--resolution", "640x360",
		"--duration", "16s", "--out", out, "--log-level", "debug")
	// Midway, the status shows the top layer.
	time.Sleep(5 * time.Second)
	layers, err := cam.page.SenderLayers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the browser sends %+v", layers)
	// What the status reports is the layer being received. The SFU may
	// have moved it down by now (its bandwidth estimate falls on a loaded
	// machine; roomcast's request stands): the status must name a layer
	// the browser sends, at that layer's size. The top layer within 1 s is
	// held below, from the log.
	st := readStatus(t, out)
	if len(st.Stats.Peers) != 1 || len(st.Stats.Peers[0].Video) != 1 {
		t.Errorf("status.json at 5 s: stats.peers = %+v, want the browser's camera", st.Stats.Peers)
	} else {
		v := st.Stats.Peers[0].Video[0]
		sent := slices.ContainsFunc(layers, func(l browser.Layer) bool { return l.Width == v.Width && l.Height == v.Height })
		if v.Layer == "" || !sent || v.TopLayer != (v.Width == 640) {
			t.Errorf("status.json at 5 s: the camera at layer %q (top %v) %dx%d, want one of the layers the browser sends, named", v.Layer, v.TopLayer, v.Width, v.Height)
		}
		t.Logf("status.json at 5 s: %s's camera at layer %s (top %v), %dx%d", st.Stats.Peers[0].ID, v.Layer, v.TopLayer, v.Width, v.Height)
	}
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	crowdAt := time.Now()
	for _, p := range []string{"alice", "bob", "dave"} {
		publish(t, lk.URL(room), p, "--media", filepath.Join(peers, p+".webm"), "--loop")
	}
	// status.json follows: the browser's camera at its low layer, while
	// the job still runs (its last status has no tracks left).
	var lowStatus *worker.VideoStats
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline) && lowStatus == nil; time.Sleep(200 * time.Millisecond) {
		if st, ok := tryStatus(out); ok {
			for _, p := range st.Stats.Peers {
				if p.ID == "browser" && len(p.Video) == 1 && p.Video[0].Width == 320 {
					lowStatus = &p.Video[0]
				}
			}
		}
	}
	if lowStatus == nil || lowStatus.TopLayer || lowStatus.Layer != "low" || lowStatus.Height != 180 {
		t.Errorf("status.json never showed the browser's camera at its low layer, 320x180 (last: %+v)", lowStatus)
	} else {
		t.Logf("status.json after the crowd: the browser's camera at layer %s, %dx%d, %d layer changes", lowStatus.Layer, lowStatus.Width, lowStatus.Height, lowStatus.LayerChanges)
	}
	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	if os.Getenv("ROOMCAST_LIPSYNC_LOG") != "" {
		t.Logf("roomcast log:\n%s", rec.stderr.String())
		t.Logf("livekit-server log:\n%s", lk.Logs())
	}
	lines := layerLines(rec.stderr.String())
	var first, low *layerLine
	for i, l := range lines {
		if l.peer != "browser" {
			continue
		}
		t.Logf("layer of the browser's camera: %s (top %t) %dx%d, %v after the track appeared, logged %.1f s into the recording",
			l.quality, l.top, l.w, l.h, l.after, l.at.Sub(recStart).Seconds())
		if first == nil && l.top {
			first = &lines[i]
		}
		if low == nil && l.at.After(crowdAt) && l.w == 320 {
			low = &lines[i]
		}
	}
	switch {
	case first == nil:
		t.Errorf("the browser's camera never came at its top layer:\n%s", tail(rec.stderr.String(), 3000))
	case first.after > 1500*time.Millisecond:
		// The target is 1 s. When LiveKit's allocator starts a new
		// subscription on the low layer (2 runs of 10 on a quiet machine;
		// the other 8 had the top layer from the first frame), it moves up
		// 1.06–1.13 s later, whatever roomcast asked for 14 ms after the
		// track appeared; the bound keeps that from failing make test, and
		// catches a request that never comes or is ignored.
		t.Errorf("the browser's camera came at its top layer %v after its track appeared, want within 1.5 s (the target is 1 s)", first.after)
	case first.after > time.Second:
		t.Logf("the browser's camera came at its top layer %v after its track appeared: past the 1 s target (LiveKit started it on the low layer)", first.after)
	}
	if low == nil {
		t.Errorf("with four peers in the grid, the browser's camera never switched to 320x180")
	} else {
		t.Logf("the low layer came %.1f s after the three peers started joining", low.at.Sub(crowdAt).Seconds())
	}
	// The pixels agree: the browser's red fills its quarter of the grid.
	mp4 := filepath.Join(out, "recording.mp4")
	if s := colourShare(frameRGB(t, mp4, 15, 640, 360), [3]int{0xC0, 0x30, 0x30}, 60); s < 0.15 {
		t.Errorf("at 15 s the browser's colour covers %.0f%% of the frame, want its tile's 25%%", s*100)
	}
}

// TestBrowserPublishers records a room of three browsers, as an app's
// users would use it: red stays (and shares its screen, from Chromium's
// fake display capture); green mutes and unmutes its camera, then its
// microphone; blue leaves and rejoins twice, and at the end closes its tab
// without leaving. The checks are on the recording's pixels and sound, and
// on the status roomcast writes.
func TestBrowserPublishers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lk := startLiveKit(t)
	room := "publishers"
	small := browser.JoinOptions{Width: 320, Height: 180, FPS: 15}
	silent := small
	silent.NoMic = true
	type peer struct {
		name  string
		color [3]int
		media browser.Media
		join  browser.JoinOptions
	}
	ps := []peer{
		{"red", [3]int{0xC0, 0x30, 0x30}, browser.Media{Width: 320, Height: 180, FPS: 15, Color: "0xC03030", NoFlash: true}, silent},
		{"green", [3]int{0x30, 0xC0, 0x30}, browser.Media{Width: 320, Height: 180, FPS: 15, Color: "0x30C030", NoFlash: true, PeriodS: 0.2, DurationS: 2}, small},
		{"blue", [3]int{0x30, 0x30, 0xC0}, browser.Media{Width: 320, Height: 180, FPS: 15, Color: "0x3030C0", NoFlash: true}, silent},
	}
	tabs := map[string]*browserPeer{}
	for _, p := range ps {
		b := launchBrowser(t, ctx, p.name, p.media)
		tabs[p.name] = joinBrowser(t, ctx, lk, b, room, p.name, p.join)
	}
	t.Logf("chromium %s", tabs["red"].b.Version())
	out := t.TempDir()
	rec := startRoomcast(t, lkEnv(), "record", "--room", lk.URL(room), "--record", "--resolution", "640x360",
		"--duration", "40s", "--out", out)
	// The job's own clock starts at its startedAt; until status.json says
	// it, the process start stands in.
	began := time.Now()
	var startedAt time.Time
	at := func(d time.Duration) { time.Sleep(time.Until(began.Add(d))) }
	mark := map[string]time.Time{}
	do := func(name string, f func() error) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		mark[name] = time.Now()
	}
	blue, green, red := tabs["blue"], tabs["green"], tabs["red"]
	at(3 * time.Second)
	do("blue leaves 1", func() error { return blue.page.Leave(ctx) })
	at(5 * time.Second)
	do("blue rejoins 1", func() error { rejoin(t, ctx, lk, blue.page, room, "blue", silent); return nil })
	at(6 * time.Second)
	do("green mutes camera", func() error { return green.page.MuteCamera(ctx, true) })
	at(8 * time.Second)
	do("blue leaves 2", func() error { return blue.page.Leave(ctx) })
	at(9 * time.Second)
	do("green unmutes camera", func() error { return green.page.MuteCamera(ctx, false) })
	at(10 * time.Second)
	do("blue rejoins 2", func() error { rejoin(t, ctx, lk, blue.page, room, "blue", silent); return nil })
	at(12 * time.Second)
	do("green mutes mic", func() error { return green.page.MuteMic(ctx, true) })
	at(14 * time.Second)
	screen, err := red.page.ScreenShare(ctx, true)
	if err != nil {
		t.Logf("no screen share from headless Chromium: %v", err)
	}
	mark["red shares"] = time.Now()
	// The share's track reaches roomcast: status.json lists a second video
	// of red's (the camera and the screen) once its first keyframe came.
	var shared bool
	for deadline := time.Now().Add(3900 * time.Millisecond); screen && time.Now().Before(deadline) && !shared; time.Sleep(100 * time.Millisecond) {
		if st, ok := tryStatus(out); ok {
			shared = slices.ContainsFunc(st.Stats.Peers, func(p worker.PeerStats) bool { return p.ID == "red" && len(p.Video) == 2 })
		}
	}
	at(16 * time.Second)
	do("green unmutes mic", func() error { return green.page.MuteMic(ctx, false) })
	at(20 * time.Second)
	closing := time.Now()
	do("blue closes tab", func() error { return blue.page.CloseTab(ctx) })
	// The server only learns of the closed tab when its connection goes
	// quiet; watch status.json for the peer count to drop.
	var gone time.Duration
	for deadline := time.Now().Add(19 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if st, ok := tryStatus(out); ok {
			if st.StartedAt != nil {
				startedAt = *st.StartedAt
			}
			if st.Peers == 2 {
				gone = time.Since(closing)
				break
			}
		}
	}
	if err := rec.wait(t, 90*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	if st.State != "stopped" || st.Error != nil {
		t.Fatalf("final state %s %+v: %s", st.State, st.Error, st.Reason)
	}
	startedAt = *st.StartedAt
	mp4 := filepath.Join(out, "recording.mp4")
	// rt is a wall time on the recording's clock.
	rt := func(w time.Time) float64 { return w.Sub(startedAt).Seconds() }
	colours := map[string][3]int{}
	for _, p := range ps {
		colours[p.name] = p.color
	}
	check := func(what string, sec float64, present, absent []string) {
		t.Helper()
		img := frameRGB(t, mp4, sec, 640, 360)
		for _, p := range present {
			if s := colourShare(img, colours[p], 50); s < 0.02 {
				t.Errorf("%s (%.1f s): %s should show, but only %.1f%% of the frame has its colour", what, sec, p, s*100)
			}
		}
		for _, p := range absent {
			if s := colourShare(img, colours[p], 50); s > 0.005 {
				t.Errorf("%s (%.1f s): %s should not show, but %.1f%% of the frame has its colour", what, sec, p, s*100)
			}
		}
	}
	check("all three", 2.5, []string{"red", "green", "blue"}, nil)
	check("blue away", rt(mark["blue leaves 1"])+1.5, []string{"red", "green"}, []string{"blue"})
	check("blue back within 2 s", rt(mark["blue rejoins 1"])+2, []string{"red", "blue"}, nil)
	check("green's camera muted", rt(mark["green mutes camera"])+1.5, []string{"red"}, []string{"green"})
	check("blue away again", rt(mark["blue leaves 2"])+0.8, []string{"red"}, []string{"blue", "green"})
	check("green's camera back", rt(mark["green unmutes camera"])+1.5, []string{"red", "green"}, nil)
	check("blue back again within 2 s", rt(mark["blue rejoins 2"])+2, []string{"red", "green", "blue"}, nil)
	// green's beeps, and their silence while its microphone is muted.
	loud := meanVolume(t, mp4, rt(mark["green unmutes camera"]), 2.5)
	hush := meanVolume(t, mp4, rt(mark["green mutes mic"])+1, 2)
	back := meanVolume(t, mp4, rt(mark["green unmutes mic"])+1.5, 2)
	t.Logf("green's microphone: %.1f dB before the mute, %.1f dB muted, %.1f dB after", loud, hush, back)
	if loud < -45 || back < -45 {
		t.Errorf("green's beeps: %.1f dB before its mute and %.1f dB after, want both above -45 dB", loud, back)
	}
	if hush > -70 {
		t.Errorf("green's microphone muted: %.1f dB, want silence (below -70 dB)", hush)
	}
	if !screen {
		t.Errorf("headless Chromium published no screen share")
	} else if !shared {
		t.Errorf("4 s after red shared its screen, status.json did not list the share among red's video; roomcast's log:\n%s",
			grepLines(rec.stderr.String(), "track added", "video layer"))
	}
	// The closed tab: blue's tile goes once the server lets it go.
	if gone == 0 {
		t.Errorf("19 s after blue closed its tab, status.json still counts %d peers", st.Peers)
	} else {
		t.Logf("blue's closed tab left the room %.1f s after it closed", gone.Seconds())
		check("blue's tab closed", rt(closing)+gone.Seconds()+1.5, []string{"red", "green"}, []string{"blue"})
	}
	if st.Peers != 2 {
		t.Errorf("status shows %d peers at the end, want 2", st.Peers)
	}
	for _, name := range []string{"blue leaves 1", "blue rejoins 1", "blue leaves 2", "blue rejoins 2", "blue closes tab"} {
		t.Logf("%s at %.1f s of the recording", name, rt(mark[name]))
	}
}

// grepLines returns the lines of log that contain any of words.
func grepLines(log string, words ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(log, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}

// tryStatus reads status.json if it is there and whole.
func tryStatus(dir string) (worker.State, bool) {
	var s worker.State
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}
