package hls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// The tests feed the sinks what muxer.Encoder will: H.264 Annex B access
// units with SPS/PPS before every IDR and raw AAC frames, with the contract's
// time bases. The ffmpeg CLI makes them once per test binary (the left half
// of the picture red, the right half blue, a 440 Hz tone) and TestMain parses
// them into packets.

const (
	clipFPS      = 30
	clipSeconds  = 8 // four 2 s GOPs: the clip loops seamlessly
	clipWidth    = 640
	clipHeight   = 360
	clipRate     = 48000
	aacFrameSize = 1024
	envMediaDir  = "ROOMCAST_HLS_TEST_MEDIA" // set for re-executed children
)

// clip is one pass of test media as packets.
type clip struct {
	info  output.StreamInfo
	video []output.Packet // PTS = DTS = frame index
	audio []output.Packet // PTS = sample index
}

// testClip is made by TestMain and shared read-only by all tests.
var testClip *clip

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir := os.Getenv(envMediaDir)
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "roomcast-hls-media-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := encodeClip(dir); err != nil {
			fmt.Fprintln(os.Stderr, "make test media:", err)
			return 1
		}
		os.Setenv(envMediaDir, dir) // children re-executed by tests reuse it
	}
	c, err := loadClip(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load test media:", err)
		return 1
	}
	testClip = c
	return m.Run()
}

// encodeClip writes dir/v.h264 (Annex B) and dir/a.aac (ADTS).
func encodeClip(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dur := fmt.Sprint(clipSeconds)
	src := fmt.Sprintf("color=c=0xff0000:s=%dx%d:r=%d,drawbox=x=%d:y=0:w=%d:h=%d:color=0x0000ff:t=fill",
		clipWidth, clipHeight, clipFPS, clipWidth/2, clipWidth/2, clipHeight)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", src,
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=%d", clipRate),
		// -t on each output: the lavfi sources never end.
		"-map", "0:v", "-t", dur, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-threads", "1", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "repeat-headers=1", "-pix_fmt", "yuv420p", "-b:v", "300k",
		"-f", "h264", filepath.Join(dir, "v.h264"),
		"-map", "1:a", "-t", dur, "-ac", "2", "-c:a", "aac", "-b:a", "96k",
		"-f", "adts", filepath.Join(dir, "a.aac"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	return nil
}

func loadClip(dir string) (*clip, error) {
	vb, err := os.ReadFile(filepath.Join(dir, "v.h264"))
	if err != nil {
		return nil, err
	}
	ab, err := os.ReadFile(filepath.Join(dir, "a.aac"))
	if err != nil {
		return nil, err
	}
	c := &clip{}
	c.info.Video = output.VideoInfo{
		Width: clipWidth, Height: clipHeight, FPS: clipFPS,
		TimeBase: output.Rational{Num: 1, Den: clipFPS}, Bitrate: 300_000,
	}
	c.info.Audio = output.AudioInfo{
		SampleRate: clipRate, Channels: 2,
		TimeBase: output.Rational{Num: 1, Den: clipRate}, Bitrate: 96_000,
	}

	aus := splitAccessUnits(vb)
	if len(aus) < clipFPS*clipSeconds {
		return nil, fmt.Errorf("%d video frames, want %d", len(aus), clipFPS*clipSeconds)
	}
	for i, au := range aus[:clipFPS*clipSeconds] {
		key := false
		for _, n := range splitNALUs(au) {
			switch n[0] & 0x1f {
			case 5:
				key = true
			case 7, 8:
				if i == 0 {
					c.info.Video.Extradata = append(c.info.Video.Extradata, 0, 0, 0, 1)
					c.info.Video.Extradata = append(c.info.Video.Extradata, n...)
				}
			}
		}
		if key != (i%(2*clipFPS) == 0) {
			return nil, fmt.Errorf("frame %d: keyframe=%v, want one every 2 s", i, key)
		}
		c.video = append(c.video, output.Packet{
			Kind: output.Video, PTS: int64(i), DTS: int64(i), Duration: 1, Key: key, Data: au,
		})
	}

	frames, asc, err := parseADTS(ab)
	if err != nil {
		return nil, err
	}
	c.info.Audio.Extradata = asc
	n := clipSeconds * clipRate / aacFrameSize // 375: exactly 8 s
	if len(frames) < n {
		return nil, fmt.Errorf("%d AAC frames, want %d", len(frames), n)
	}
	for i, f := range frames[:n] {
		c.audio = append(c.audio, output.Packet{
			Kind: output.Audio, PTS: int64(i * aacFrameSize), DTS: int64(i * aacFrameSize),
			Duration: aacFrameSize, Key: true, Data: f,
		})
	}
	return c, nil
}

// splitNALUs returns the NAL units of an Annex-B buffer, without start codes.
func splitNALUs(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 { // 4-byte start code
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// splitAccessUnits cuts an Annex-B stream into access units, each with its
// start codes: a new one begins at an AUD, SPS, PPS or SEI that follows a
// slice, or at a slice whose first_mb_in_slice is 0 that follows a slice.
func splitAccessUnits(b []byte) [][]byte {
	type span struct{ off, typ int }
	var nalus []span
	for i := 0; i+3 <= len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 && i+3 < len(b) {
			off := i
			if off > 0 && b[off-1] == 0 {
				off--
			}
			nalus = append(nalus, span{off, int(b[i+3] & 0x1f)})
			i += 2
		}
	}
	var aus [][]byte
	auStart, sawSlice := 0, false
	for k, n := range nalus {
		isSlice := n.typ == 1 || n.typ == 5
		boundary := false
		switch {
		case n.typ == 9 || n.typ == 7 || n.typ == 8 || n.typ == 6:
			boundary = sawSlice
		case isSlice:
			hdr := n.off + 3
			if b[n.off+2] == 0 {
				hdr++
			}
			firstMB0 := hdr+1 < len(b) && b[hdr+1]&0x80 != 0 // ue(v) 0 is a single 1 bit
			boundary = sawSlice && firstMB0
		}
		if boundary && k > 0 {
			aus = append(aus, b[auStart:n.off])
			auStart, sawSlice = n.off, false
		}
		if isSlice {
			sawSlice = true
		}
	}
	if auStart < len(b) {
		aus = append(aus, b[auStart:])
	}
	return aus
}

// parseADTS strips the ADTS headers and builds the AudioSpecificConfig.
func parseADTS(b []byte) (frames [][]byte, asc []byte, err error) {
	for len(b) > 0 {
		if len(b) < 7 || b[0] != 0xff || b[1]&0xf0 != 0xf0 {
			return nil, nil, errors.New("ADTS: lost sync")
		}
		protAbsent := b[1] & 1
		profile := b[2] >> 6 // object type - 1
		freqIdx := (b[2] >> 2) & 0xf
		chans := (b[2]&1)<<2 | b[3]>>6
		flen := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		hlen := 7
		if protAbsent == 0 {
			hlen = 9
		}
		if flen < hlen || flen > len(b) {
			return nil, nil, errors.New("ADTS: bad frame length")
		}
		if asc == nil {
			ot := profile + 1
			asc = []byte{ot<<3 | freqIdx>>1, (freqIdx&1)<<7 | chans<<3}
		}
		frames = append(frames, b[hlen:flen])
		b = b[flen:]
	}
	return frames, asc, nil
}

// feedOptions says how much of the clip to feed and how fast.
type feedOptions struct {
	from     time.Duration // media time to start at (to continue a feed)
	duration time.Duration // media time to stop at; the clip loops
	speed    float64       // 1 = real time, 4 = four times, 0 = as fast as possible
	// after, if set, runs once the media time reaches its key (checked
	// before each packet), e.g. to break the output directory mid-run.
	at    time.Duration
	after func()
}

// feed writes packets in time order, video before audio at equal times,
// until the duration is fed, ctx ends or Write fails. It returns the media
// time of the packet whose Write failed, with the error.
func feed(ctx context.Context, s output.Sink, c *clip, o feedOptions) (time.Duration, error) {
	start := time.Now()
	loopV, loopA := int64(len(c.video)), int64(len(c.audio))*aacFrameSize
	var vi, ai int64 // packet counters over all loops
	afterDone := o.after == nil
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		vp := c.video[vi%int64(len(c.video))]
		vp.PTS += vi / int64(len(c.video)) * loopV
		vp.DTS = vp.PTS
		ap := c.audio[ai%int64(len(c.audio))]
		ap.PTS += ai / int64(len(c.audio)) * loopA
		ap.DTS = ap.PTS
		p := &vp
		if ap.Time(&c.info) < vp.Time(&c.info) {
			p = &ap
		}
		t := p.Time(&c.info)
		if t >= o.duration {
			return t, nil
		}
		if t < o.from {
			if p == &vp {
				vi++
			} else {
				ai++
			}
			continue
		}
		if !afterDone && t >= o.at {
			o.after()
			afterDone = true
		}
		if o.speed > 0 {
			due := start.Add(time.Duration(float64(t-o.from) / o.speed))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return t, ctx.Err()
				case <-time.After(d):
				}
			}
		}
		if err := s.Write(ctx, p); err != nil {
			return t, err
		}
		if p == &vp {
			vi++
		} else {
			ai++
		}
	}
}

func TestSplitAccessUnits(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 1}
	pps := []byte{0, 0, 0, 1, 0x68, 2}
	idr := []byte{0, 0, 1, 0x65, 0x88, 3}      // first_mb_in_slice 0
	idr2 := []byte{0, 0, 1, 0x65, 0x40, 3}     // a second slice of the same frame
	p := []byte{0, 0, 0, 1, 0x41, 0x9a, 4}     // next frame
	aud := []byte{0, 0, 0, 1, 0x09, 0xf0}      // next AU delimiter
	p2 := []byte{0, 0, 0, 1, 0x41, 0x9a, 5, 0} // trailing zero is data
	stream := bytes.Join([][]byte{sps, pps, idr, idr2, p, aud, p2}, nil)
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"access units", len(splitAccessUnits(stream)), 3},
		{"NAL units", len(splitNALUs(stream)), 7},
		{"NAL units of first AU", len(splitNALUs(splitAccessUnits(stream)[0])), 4},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// ffprobe runs ffprobe with a timeout and returns its stdout.
func ffprobe(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffprobe", append([]string{"-hide_banner", "-v", "error"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
