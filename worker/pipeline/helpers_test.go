package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/rtp/codecs/vp9"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/room"
)

// ffmpeg runs the ffmpeg CLI. A missing ffmpeg fails the test: the encoders
// are part of what is tested against.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// videoCodec describes how a test encodes and packetizes one codec.
type videoCodec struct {
	name      string
	mime      string
	args      []string // encoder options
	annexB    bool     // raw H.264 instead of IVF
	payloader func() rtp.Payloader
	isKey     func(frame []byte) bool // ground truth, independent of the pipeline
}

func videoCodecs() []videoCodec {
	common := []string{"-g", "15", "-keyint_min", "15", "-b:v", "800k", "-threads", "1"}
	return []videoCodec{
		{
			name:      "VP8",
			mime:      "video/VP8",
			args:      append([]string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0"}, common...),
			payloader: func() rtp.Payloader { return &codecs.VP8Payloader{EnablePictureID: true} },
			isKey:     func(f []byte) bool { return len(f) > 0 && f[0]&1 == 0 },
		},
		{
			name:      "VP9",
			mime:      "video/VP9",
			args:      append([]string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-row-mt", "0"}, common...),
			payloader: func() rtp.Payloader { return &codecs.VP9Payloader{} },
			isKey: func(f []byte) bool {
				var h vp9.Header
				return h.Unmarshal(f) == nil && !h.ShowExistingFrame && !h.NonKeyFrame
			},
		},
		{
			name:   "H264",
			mime:   "video/H264",
			annexB: true,
			args: []string{"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency",
				"-x264-params", "keyint=15:min-keyint=15:scenecut=0", "-b:v", "800k", "-threads", "1"},
			payloader: func() rtp.Payloader { return &codecs.H264Payloader{} },
			isKey: func(f []byte) bool {
				for i := 0; i+3 < len(f); i++ {
					if f[i] == 0 && f[i+1] == 0 && f[i+2] == 1 && f[i+3]&0x1f == 5 {
						return true
					}
				}
				return false
			},
		},
		{
			name:      "AV1",
			mime:      "video/AV1",
			args:      append([]string{"-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0"}, common...),
			payloader: func() rtp.Payloader { return &codecs.AV1Payloader{} },
			isKey: func(f []byte) bool {
				// Walk the sized OBUs for a sequence header.
				for len(f) > 0 {
					h := f[0]
					n := 1
					if h&0x04 != 0 {
						n = 2
					}
					size, l := uint(0), 0
					for shift := 0; n+l < len(f); shift += 7 {
						b := f[n+l]
						l++
						size |= uint(b&0x7f) << shift
						if b&0x80 == 0 {
							break
						}
					}
					if h>>3&0x0f == 1 {
						return true
					}
					if n+l+int(size) > len(f) {
						return false
					}
					f = f[n+l+int(size):]
				}
				return false
			},
		},
	}
}

// encodeVideo encodes frames of a lavfi source and returns the encoded frames
// (IVF frames, or H.264 access units in Annex B).
func encodeVideo(t testing.TB, vc videoCodec, src string, frames int) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "video")
	args := []string{"-f", "lavfi", "-i", src, "-frames:v", strconv.Itoa(frames), "-pix_fmt", "yuv420p"}
	args = append(args, vc.args...)
	if vc.annexB {
		args = append(args, "-f", "h264", out)
	} else {
		args = append(args, "-f", "ivf", out)
	}
	ffmpeg(t, args...)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var res [][]byte
	if vc.annexB {
		r, err := h264reader.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var au []byte
		for {
			nal, err := r.NextNAL()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			au = append(append(au, 0, 0, 0, 1), nal.Data...)
			if nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr {
				res = append(res, au)
				au = nil
			}
		}
	} else {
		r, _, err := ivfreader.NewWith(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			fr, _, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			res = append(res, fr)
		}
	}
	if len(res) != frames {
		t.Fatalf("%s: encoder gave %d frames, want %d", vc.name, len(res), frames)
	}
	return res
}

// encodeOpus encodes a lavfi audio source to Opus and returns its packets.
// page_duration makes ffmpeg put each 20 ms packet on a page of its own,
// which is what pion's oggreader hands out; the granule steps prove it.
func encodeOpus(t testing.TB, src string, seconds string) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "audio.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", src, "-t", seconds, "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", out)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	var last uint64
	for {
		page, hdr, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		if d := hdr.GranulePosition - last; len(pkts) > 0 && d > 960 {
			t.Fatalf("page %d spans %d samples: more than one packet", len(pkts), d)
		}
		last = hdr.GranulePosition
		pkts = append(pkts, page)
	}
	return pkts
}

// sentPacket is a packet and when the "network" delivers it.
type sentPacket struct {
	pkt     *rtp.Packet
	arrival time.Duration
	frame   int // index of the media frame it carries
}

// packetize turns media frames into RTP packets: frame i's packets arrive at
// start + i*step, 100 µs apart.
func packetize(frames [][]byte, pl rtp.Payloader, rate, samples uint32, ssrc uint32, seq uint16, ts uint32, start, step time.Duration) []sentPacket {
	pz := rtp.NewPacketizerWithOptions(1200, pl, rtp.NewFixedSequencer(seq), rate,
		rtp.WithSSRC(ssrc), rtp.WithPayloadType(96), rtp.WithTimestamp(ts))
	var out []sentPacket
	for i, f := range frames {
		for k, p := range pz.Packetize(f, samples) {
			out = append(out, sentPacket{pkt: p, arrival: start + time.Duration(i)*step + time.Duration(k)*100*time.Microsecond, frame: i})
		}
	}
	return out
}

// testNet delivers the packets of several tracks in arrival order, as one
// network would: a track's Read waits while another track has an earlier
// packet to deliver.
type testNet struct {
	mu   sync.Mutex
	cond *sync.Cond
	next map[*testTrack]time.Duration
}

func newTestNet() *testNet {
	n := &testNet{next: map[*testTrack]time.Duration{}}
	n.cond = sync.NewCond(&n.mu)
	return n
}

func (n *testNet) add(t *testTrack) {
	t.net = n
	if len(t.pkts) > 0 {
		n.next[t] = t.pkts[0].arrival
	}
}

func (n *testNet) take(t *testTrack, at time.Duration, following time.Duration, more bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		first := true
		for u, a := range n.next {
			if u != t && a < at {
				first = false
			}
		}
		if first {
			break
		}
		n.cond.Wait()
	}
	if more {
		n.next[t] = following
	} else {
		delete(n.next, t)
	}
	n.cond.Broadcast()
}

// testTrack is a room.Track over a list of packets and RTCP. It reuses one
// packet and payload buffer, scribbling over the old payload, so a pipeline
// that kept a packet past the next Read would see garbage.
type testTrack struct {
	info room.TrackInfo
	clk  *testClock
	pkts []sentPacket
	rtcp [][]rtcp.Packet
	net  *testNet

	i, j    int
	cur     rtp.Packet
	buf     []byte
	srDone  chan struct{}
	srOnce  sync.Once
	ended   chan struct{}
	endOnce sync.Once
	plis    atomic.Int32
}

func newTestTrack(id, peer, mime string, rate uint32, clk *testClock, pkts []sentPacket, reports [][]rtcp.Packet) *testTrack {
	kind := room.KindVideo
	if mime == "audio/opus" {
		kind = room.KindAudio
	}
	return &testTrack{
		info: room.TrackInfo{ID: id, PeerID: peer, Kind: kind, Source: room.SourceRegular,
			Codec: room.Codec{MimeType: mime, ClockRate: rate, PayloadType: 96}},
		clk:    clk,
		pkts:   pkts,
		rtcp:   reports,
		srDone: make(chan struct{}),
		ended:  make(chan struct{}),
	}
}

func (t *testTrack) Info() room.TrackInfo { return t.info }

func (t *testTrack) Read(b []byte) (int, error) {
	p, err := t.readRTP()
	if err != nil {
		return 0, err
	}
	return p.MarshalTo(b)
}

func (t *testTrack) readRTP() (*rtp.Packet, error) {
	if t.i == 0 {
		// Sender reports go first, so every packet can be mapped by them.
		<-t.srDone
	}
	if t.i >= len(t.pkts) {
		t.endOnce.Do(func() { close(t.ended) })
		return nil, io.EOF
	}
	sp := t.pkts[t.i]
	t.i++
	if t.net != nil {
		var following time.Duration
		if t.i < len(t.pkts) {
			following = t.pkts[t.i].arrival
		}
		t.net.take(t, sp.arrival, following, t.i < len(t.pkts))
	}
	t.clk.set(sp.arrival)
	for k := range t.buf {
		t.buf[k] = 0xee
	}
	t.buf = append(t.buf[:0], sp.pkt.Payload...)
	t.cur.Header = sp.pkt.Header
	t.cur.Payload = t.buf
	return &t.cur, nil
}

func (t *testTrack) ReadRTCP() ([]rtcp.Packet, error) {
	if t.j < len(t.rtcp) {
		t.j++
		return t.rtcp[t.j-1], nil
	}
	// Called again: the pipeline has taken every report.
	t.srOnce.Do(func() { close(t.srDone) })
	<-t.ended
	return nil, io.EOF
}

func (t *testTrack) RequestKeyframe() error {
	t.plis.Add(1)
	return nil
}

// videoRec is what the sink saw of one frame.
type videoRec struct {
	t       time.Duration
	w, h    int
	pf      astiav.PixelFormat
	y, u, v byte // centre pixel
}

type recSink struct {
	mu     sync.Mutex
	err    error
	video  []videoRec
	audio  []float32
	audioT []time.Duration
	audioN []int // samples per channel of each push
}

func (s *recSink) PushVideo(_ string, f *astiav.Frame, t time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := videoRec{t: t, w: f.Width(), h: f.Height(), pf: f.PixelFormat()}
	planes, ls, err := avframe.VideoPlanes(f)
	if err != nil {
		s.err = err
		return
	}
	cx, cy := r.w/2, r.h/2
	r.y = planes[0][cy*ls[0]+cx]
	r.u = planes[1][cy/2*ls[1]+cx/2]
	r.v = planes[2][cy/2*ls[2]+cx/2]
	s.video = append(s.video, r)
}

func (s *recSink) PushAudio(_ string, samples []float32, t time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audio = append(s.audio, samples...)
	s.audioT = append(s.audioT, t)
	s.audioN = append(s.audioN, len(samples)/2)
}

// run runs a pipeline over tr to the end.
func run(t *testing.T, tr *testTrack, s *Sync, sink *recSink) Stats {
	t.Helper()
	st, err := runTrack(tr, s, sink)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// runTrack is run for goroutines other than the test's.
func runTrack(tr *testTrack, s *Sync, sink *recSink) (Stats, error) {
	p, err := New(Config{Track: tr, Sync: s, Clock: tr.clk, Sink: sink})
	if err != nil {
		return Stats{}, err
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		return Stats{}, fmt.Errorf("track %s: Run: %w", tr.info.ID, err)
	}
	if sink.err != nil {
		return Stats{}, fmt.Errorf("track %s: sink: %w", tr.info.ID, sink.err)
	}
	return p.Stats(), nil
}

var _ room.Track = (*testTrack)(nil)
