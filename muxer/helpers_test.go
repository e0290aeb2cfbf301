package muxer

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"sync"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/muxer/output"
)

// collector is a PacketWriter that keeps every packet.
type collector struct {
	mu   sync.Mutex
	pkts []*output.Packet
}

func (c *collector) WritePacket(p *output.Packet) {
	c.mu.Lock()
	c.pkts = append(c.pkts, p)
	c.mu.Unlock()
}

func (c *collector) byKind(k output.StreamKind) []*output.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*output.Packet
	for _, p := range c.pkts {
		if p.Kind == k {
			out = append(out, p)
		}
	}
	return out
}

// source produces the synthetic job input: a moving colour pattern and a
// 440 Hz sine, as the compositor and mixer would hand them over.
type source struct {
	w, h, fps, rate int
	frame           *astiav.Frame
	audio           []float32
	phase           float64
}

func newSource(w, h, fps int) (*source, error) {
	f := astiav.AllocFrame()
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		f.Free()
		return nil, err
	}
	return &source{w: w, h: h, fps: fps, rate: 48000, frame: f}, nil
}

func mustSource(t testing.TB, w, h, fps int) *source {
	t.Helper()
	s, err := newSource(w, h, fps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.frame.Free)
	return s
}

// video paints frame i: a background whose colour drifts and a box that moves.
func (s *source) video(i int) (*astiav.Frame, error) {
	c := byte(i * 3)
	if err := avframe.Fill(s.frame, 0, 0, s.w, s.h, 60+c/2, c, 255-c); err != nil {
		return nil, err
	}
	bw, bh := s.w/4&^1, s.h/4&^1
	x := (i * 8) % (s.w - bw) &^ 1
	y := (i * 4) % (s.h - bh) &^ 1
	if err := avframe.Fill(s.frame, x, y, bw, bh, 235, 128, 128); err != nil {
		return nil, err
	}
	return s.frame, nil
}

func (s *source) mustVideo(t testing.TB, i int) *astiav.Frame {
	t.Helper()
	f, err := s.video(i)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sine returns n interleaved stereo samples of a 440 Hz tone at amplitude 0.5,
// continuing the phase of the previous call.
func (s *source) sine(n int) []float32 {
	if cap(s.audio) < 2*n {
		s.audio = make([]float32, 2*n)
	}
	out := s.audio[:2*n]
	step := 2 * math.Pi * 440 / float64(s.rate)
	for i := 0; i < n; i++ {
		v := float32(0.5 * math.Sin(s.phase))
		out[2*i], out[2*i+1] = v, v
		s.phase += step
	}
	s.phase = math.Mod(s.phase, 2*math.Pi)
	return out
}

// nalTypes lists the NAL unit types of an Annex-B buffer.
func nalTypes(b []byte) []int {
	var types []int
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			types = append(types, int(b[i+3]&0x1f))
			i += 3
		}
	}
	return types
}

func contains(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

type probeStream struct {
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Profile      string `json:"profile"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	AvgFrameRate string `json:"avg_frame_rate"`
	RFrameRate   string `json:"r_frame_rate"`
	SampleRate   string `json:"sample_rate"`
	Channels     int    `json:"channels"`
}

type probePacket struct {
	CodecType string `json:"codec_type"`
	PTSTime   string `json:"pts_time"`
	PTS       int64  `json:"pts"`
	Duration  int64  `json:"duration"`
	Flags     string `json:"flags"`
}

type probeResult struct {
	Streams []probeStream `json:"streams"`
	Packets []probePacket `json:"packets"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string, args ...string) probeResult {
	t.Helper()
	cmd := exec.Command("ffprobe", append([]string{"-v", "error", "-of", "json"}, append(args, path)...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, stderr.String())
	}
	var r probeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	return r
}

func (r probeResult) stream(t *testing.T, kind string) probeStream {
	t.Helper()
	for _, s := range r.Streams {
		if s.CodecType == kind {
			return s
		}
	}
	t.Fatalf("no %s stream in %+v", kind, r.Streams)
	return probeStream{}
}

func (r probeResult) packets(kind string) []probePacket {
	var out []probePacket
	for _, p := range r.Packets {
		if p.CodecType == kind {
			out = append(out, p)
		}
	}
	return out
}
