package netfault_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/analyze"
)

// Picture measurements on a recording, by decoding it with the ffmpeg CLI
// as 8-bit luma at the output size.

// rect is a region of the output frame, in pixels.
type rect struct{ x0, y0, x1, y1 int }

func (r rect) String() string { return fmt.Sprintf("%dx%d+%d+%d", r.x1-r.x0, r.y1-r.y0, r.x0, r.y0) }

// frameFacts are what one output frame shows.
type frameFacts struct {
	pts     float64
	mean    float64 // of the whole frame
	tile    float64 // mean of alice's picture
	changed int     // pixels of alice's picture that differ by more than changeStep from the frame before
	cx, cy  float64 // centroid of alice's white square, -1 without
}

const (
	// changeStep is a change no codec noise makes: the square is white
	// (Y 235) on red (Y 81).
	changeStep = 40
	// movedPixels changed pixels mean the square moved.
	movedPixels = 4
)

// lumaFrames runs ffmpeg on path and calls fn with each frame's luma.
func lumaFrames(t *testing.T, path string, fn func(i int, y []byte)) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-an", "-fps_mode", "passthrough",
		"-vf", "format=gray", "-f", "rawvideo", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("ffmpeg (apt-get install ffmpeg): %v", err)
	}
	r := bufio.NewReaderSize(out, 1<<20)
	buf := make([]byte, outWidth*outHeight)
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		fn(i, buf)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg decoding %s: %v\n%s", path, err, stderr.String())
	}
}

// alicePicture finds alice's picture: the rows and columns that are mostly
// red (luma near 81) in a frame from the middle of the recording.
func alicePicture(t *testing.T, path string, frames int) rect {
	t.Helper()
	r := rect{outWidth, outHeight, 0, 0}
	red := func(v byte) bool { return v > 65 && v < 100 }
	lumaFrames(t, path, func(i int, y []byte) {
		if i != frames/2 {
			return
		}
		for row := range outHeight {
			n := 0
			for col := range outWidth {
				if red(y[row*outWidth+col]) {
					n++
				}
			}
			if n > 100 {
				r.y0, r.y1 = min(r.y0, row), max(r.y1, row+1)
			}
		}
		for col := range outWidth {
			n := 0
			for row := r.y0; row < r.y1; row++ {
				if red(y[row*outWidth+col]) {
					n++
				}
			}
			if n > (r.y1-r.y0)/2 {
				r.x0, r.x1 = min(r.x0, col), max(r.x1, col+1)
			}
		}
	})
	if r.x1-r.x0 < 64 || r.y1-r.y0 < 48 {
		t.Fatalf("%s: no red picture of alice in frame %d (found %v)", path, frames/2, r)
	}
	// Keep off the edges, where the tile's border and label are.
	r.x0, r.y0, r.x1, r.y1 = r.x0+4, r.y0+4, r.x1-4, r.y1-24
	return r
}

// facts decodes path and measures every frame within alice's picture.
func facts(t *testing.T, path string, pic rect) []frameFacts {
	t.Helper()
	pts := packetTimes(t, path)
	prev := make([]byte, outWidth*outHeight)
	var out []frameFacts
	lumaFrames(t, path, func(i int, y []byte) {
		f := frameFacts{cx: -1, cy: -1}
		if i < len(pts) {
			f.pts = pts[i]
		}
		var sum, tileSum, n, sx, sy float64
		for _, v := range y {
			sum += float64(v)
		}
		for row := pic.y0; row < pic.y1; row++ {
			for col := pic.x0; col < pic.x1; col++ {
				v := y[row*outWidth+col]
				tileSum += float64(v)
				if d := int(v) - int(prev[row*outWidth+col]); d > changeStep || d < -changeStep {
					f.changed++
				}
				if v > 160 {
					n++
					sx += float64(col)
					sy += float64(row)
				}
			}
		}
		f.mean = sum / float64(len(y))
		f.tile = tileSum / float64((pic.x1-pic.x0)*(pic.y1-pic.y0))
		if n > 0 {
			f.cx, f.cy = sx/n, sy/n
		}
		if i == 0 {
			f.changed = movedPixels
		}
		copy(prev, y)
		out = append(out, f)
	})
	return out
}

// packetTimes are the video packets' presentation times, sorted.
func packetTimes(t *testing.T, path string) []float64 { return streamTimes(t, path, "v:0") }

// streamTimes are a stream's packet times, sorted.
func streamTimes(t *testing.T, path, stream string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err == nil {
			ts = append(ts, v)
		}
	}
	for i := 1; i < len(ts); i++ { // insertion sort: B-frames come out of order
		for j := i; j > 0 && ts[j] < ts[j-1]; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
	return ts
}

// freezes sums the runs of frames in which alice's picture did not change
// from the frame before, from frame `from` on: the longest run and the
// total of runs of two frames or more (a single repeat is the output clock
// beating against the source's).
func freezes(fs []frameFacts, from int) (longest, total time.Duration, runs []string) {
	frame := time.Second / outFPS
	run := 0
	flush := func(at float64) {
		d := time.Duration(run) * frame
		longest = max(longest, d)
		if run >= 2 {
			total += d
			runs = append(runs, fmt.Sprintf("%d@%.2fs", run, at))
		}
		run = 0
	}
	for _, f := range fs[from:] {
		if f.changed < movedPixels {
			run++
			continue
		}
		flush(f.pts)
	}
	flush(fs[len(fs)-1].pts)
	return longest, total, runs
}

// align finds k such that frame i of ref shows what frame i+k of got does,
// by the square's position.
func align(ref, got []frameFacts, from int) (k int, meanErr float64) {
	best := math.Inf(1)
	for off := -45; off <= 45; off++ {
		var sum float64
		n := 0
		for i := from; i < len(ref); i++ {
			j := i + off
			if j < 0 || j >= len(got) || ref[i].cx < 0 || got[j].cx < 0 {
				continue
			}
			sum += math.Hypot(ref[i].cx-got[j].cx, ref[i].cy-got[j].cy)
			n++
		}
		if n > len(ref)/3 && sum/float64(n) < best {
			best, k = sum/float64(n), off
		}
	}
	return k, best
}

var (
	psnrRe = regexp.MustCompile(`PSNR y:\S+ .*average:(\S+)`)
	ssimRe = regexp.MustCompile(`SSIM Y:\S+ .*All:(\S+)`)
)

// quality is ffmpeg's PSNR (dB) and SSIM of alice's picture in got
// against ref, frame i of ref with frame i+k of got, over n frames from
// frame from.
func quality(t *testing.T, ref, got string, pic rect, from, k, n int) (psnr, ssim float64) {
	t.Helper()
	crop := fmt.Sprintf("crop=%d:%d:%d:%d", pic.x1-pic.x0, pic.y1-pic.y0, pic.x0, pic.y0)
	trim := func(start int) string {
		return fmt.Sprintf("trim=start_frame=%d:end_frame=%d,setpts=PTS-STARTPTS,%s,format=yuv420p", start, start+n, crop)
	}
	graph := fmt.Sprintf("[0:v]%s,split[g1][g2];[1:v]%s,split[r1][r2];[g1][r1]psnr;[g2][r2]ssim", trim(from+k), trim(from))
	out, err := exec.Command("ffmpeg", "-v", "info", "-nostats", "-i", got, "-i", ref, "-lavfi", graph, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg psnr/ssim: %v\n%s", err, out)
	}
	p, s := psnrRe.FindSubmatch(out), ssimRe.FindSubmatch(out)
	if p == nil || s == nil {
		t.Fatalf("no PSNR or SSIM in ffmpeg's output:\n%s", out)
	}
	if psnr, err = strconv.ParseFloat(string(p[1]), 64); err != nil {
		psnr = math.Inf(1) // "inf": identical
	}
	ssim, _ = strconv.ParseFloat(string(s[1]), 64)
	return psnr, ssim
}

// syncOffset is the sync peer's A/V offset: mean and largest magnitude,
// ms, and its number of flash/beep pairs.
func syncOffset(t *testing.T, path string) (mean, worst float64, pairs int) {
	t.Helper()
	rep, err := analyze.AnalyzeSync(context.Background(), path, analyze.SyncOptions{Tones: []float64{1000}, Cols: 2, Rows: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := rep.WorstOffset()
	if p == nil {
		t.Fatalf("%s: no flashing peer with beeps found", path)
	}
	return p.MeanOffsetMs, p.MaxOffsetMs, len(p.Pairs)
}

// caseFigures are one case's measurements.
type caseFigures struct {
	frames                  int
	maxGap                  float64 // s between output frames
	black                   int     // frames whose alice picture is black
	refLongest, refTotal    time.Duration
	longest, total          time.Duration
	lastMotion              float64 // s: the last frame where the square moved
	psnr, ssim              float64
	shift                   int
	alignErr                float64
	offMean, offWorst       float64
	refOffMean, refOffWorst float64
	pairs, refPairs         int
	duration, lastPTS       float64
	audioGap, audioEnd      float64 // s: the largest gap between audio packets, and the last one's time
}

func (c caseFigures) String() string {
	return fmt.Sprintf("%d frames over %.2f s (largest gap %.0f ms), audio to %.2f s (largest gap %.0f ms), %d black; frozen: longest %v total %v (reference %v / %v); "+
		"last motion at %.2f s; PSNR %.2f dB SSIM %.4f (aligned by %d frames, %.1f px); A/V offset mean %.1f max %.1f ms over %d pairs (reference %.1f / %.1f, %d)",
		c.frames, c.duration, c.maxGap*1000, c.audioEnd, c.audioGap*1000, c.black, c.longest, c.total, c.refLongest, c.refTotal, c.lastMotion, c.psnr, c.ssim,
		c.shift, c.alignErr, c.offMean, c.offWorst, c.pairs, c.refOffMean, c.refOffWorst, c.refPairs)
}

// measureCase measures the faulty recording got against the reference.
func measureCase(t *testing.T, ref, got string) caseFigures {
	t.Helper()
	var c caseFigures
	pts := packetTimes(t, got)
	c.frames = len(pts)
	if c.frames < 2 {
		t.Fatalf("%s: %d frames", got, c.frames)
	}
	c.duration, c.lastPTS = pts[len(pts)-1]-pts[0], pts[len(pts)-1]
	for i := 1; i < len(pts); i++ {
		c.maxGap = max(c.maxGap, pts[i]-pts[i-1])
	}
	at := streamTimes(t, got, "a:0")
	if len(at) < 2 {
		t.Fatalf("%s: %d audio packets", got, len(at))
	}
	for i := 1; i < len(at); i++ {
		c.audioGap = max(c.audioGap, at[i]-at[i-1])
	}
	c.audioEnd = at[len(at)-1]
	pic := alicePicture(t, ref, len(packetTimes(t, ref)))
	rf, gf := facts(t, ref, pic), facts(t, got, pic)
	// From 2 s on: both jobs have subscribed to both peers by then.
	from := 2 * outFPS
	if len(gf) < from+outFPS || len(rf) < from+outFPS {
		t.Fatalf("recordings too short: %d and %d frames", len(rf), len(gf))
	}
	for _, f := range gf[from:] {
		if f.tile < 40 {
			c.black++
		}
	}
	for _, f := range gf {
		if f.changed >= movedPixels {
			c.lastMotion = f.pts
		}
	}
	var refRuns, runs []string
	c.refLongest, c.refTotal, refRuns = freezes(rf, from)
	c.longest, c.total, runs = freezes(gf, from)
	t.Logf("picture %v; frozen runs (frames@end): reference %v, faulty %v", pic, refRuns, runs)
	c.shift, c.alignErr = align(rf, gf, from)
	n := min(len(rf), len(gf)-c.shift) - from - 1
	if from+c.shift < 0 {
		t.Fatalf("alignment shift %d", c.shift)
	}
	c.psnr, c.ssim = quality(t, ref, got, pic, from, c.shift, n)
	c.offMean, c.offWorst, c.pairs = syncOffset(t, got)
	c.refOffMean, c.refOffWorst, c.refPairs = syncOffset(t, ref)
	return c
}
