package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"gopkg.in/yaml.v3"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// clipFacts is one entry of testdata/peers/peers.yaml.
type clipFacts struct {
	Name  string `yaml:"name"`
	File  string `yaml:"file"`
	Video struct {
		Codec  string `yaml:"codec"`
		Width  int    `yaml:"width"`
		Height int    `yaml:"height"`
		FPS    int    `yaml:"fps"`
	} `yaml:"video"`
	Audio struct {
		ToneHz float64 `yaml:"toneHz"`
	} `yaml:"audio"`
	Background struct {
		YUV [3]int `yaml:"yuv"`
	} `yaml:"background"`
	Sync struct {
		Period      string `yaml:"period"`
		FlashFrames int    `yaml:"flashFrames"`
		BeepMs      int    `yaml:"beepMs"`
	} `yaml:"sync"`
}

func loadClipFacts(t *testing.T) map[string]clipFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(peersDir, "peers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Peers []clipFacts `yaml:"peers"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("peers.yaml: %v", err)
	}
	out := map[string]clipFacts{}
	for _, p := range doc.Peers {
		out[p.Name] = p
	}
	return out
}

// rtpRecord is one packet as a reader saw it.
type rtpRecord struct {
	seq    uint16
	ts     uint32
	marker bool
	at     time.Duration // clock time when ReadRTP returned it
}

// trackRec is everything a test reader collected from one track.
type trackRec struct {
	info    room.TrackInfo
	peer    room.Peer
	track   room.Track
	pkts    []rtpRecord
	srs     []rtcp.SenderReport
	frames  []assembled // depacketized frames, when the harness assembles
	readErr error
}

type assembled struct {
	ts   uint32
	data []byte
}

type eventRec struct {
	ev room.Event
	at time.Duration
}

// harness plays a room's consumer: it reads events, and for each track reads
// RTP and RTCP until EOF, like the pipeline does.
type harness struct {
	clock    mediaclock.Clock
	r        *Room
	assemble bool

	mu     sync.Mutex
	tracks map[string]*trackRec
	order  []string
	events []eventRec
	wg     sync.WaitGroup
}

func newHarness(clock mediaclock.Clock, r *Room, assemble bool) *harness {
	return &harness{clock: clock, r: r, assemble: assemble, tracks: map[string]*trackRec{}}
}

// consume reads events until the channel closes. It runs in its own
// goroutine; done is closed when it returns.
func (h *harness) consume(done chan<- struct{}) {
	defer close(done)
	for ev := range h.r.Events() {
		now := h.clock.Now()
		h.mu.Lock()
		h.events = append(h.events, eventRec{ev: ev, at: now})
		h.mu.Unlock()
		if ev.Type == room.TrackAdded {
			rec := &trackRec{info: ev.Track.Info(), peer: ev.Peer, track: ev.Track}
			h.mu.Lock()
			h.tracks[rec.info.ID] = rec
			h.order = append(h.order, rec.info.ID)
			h.mu.Unlock()
			h.wg.Add(2)
			go h.readRTP(rec)
			go h.readRTCP(rec)
		}
	}
}

func (h *harness) readRTP(rec *trackRec) {
	defer h.wg.Done()
	var asm func(p *rtp.Packet) error
	if h.assemble {
		asm = newAssembler(rec)
	}
	for {
		p, err := room.ReadRTP(rec.track)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rec.readErr = err
			}
			return
		}
		rec.pkts = append(rec.pkts, rtpRecord{seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker, at: h.clock.Now()})
		if asm != nil {
			if err := asm(p); err != nil && rec.readErr == nil {
				rec.readErr = err
			}
		}
	}
}

func (h *harness) readRTCP(rec *trackRec) {
	defer h.wg.Done()
	for {
		pkts, err := rec.track.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				h.mu.Lock()
				rec.srs = append(rec.srs, *sr)
				h.mu.Unlock()
			}
		}
	}
}

// newAssembler depacketizes with pion's depacketizers into whole frames.
func newAssembler(rec *trackRec) func(p *rtp.Packet) error {
	var dep rtp.Depacketizer
	switch rec.info.Codec.MimeType {
	case "video/VP8":
		dep = &codecs.VP8Packet{}
	case "video/VP9":
		dep = &codecs.VP9Packet{}
	case "video/H264":
		dep = &codecs.H264Packet{}
	case "video/AV1":
		dep = &codecs.AV1Depacketizer{}
	default:
		dep = &codecs.OpusPacket{}
	}
	video := rec.info.Kind == room.KindVideo
	var cur []byte
	var curTS uint32
	started := false
	return func(p *rtp.Packet) error {
		if video && started && p.Timestamp != curTS {
			return fmt.Errorf("%s: frame at ts %d lost its marker packet", rec.info.ID, curTS)
		}
		b, err := dep.Unmarshal(p.Payload)
		if err != nil {
			return fmt.Errorf("%s: depacketize seq %d: %w", rec.info.ID, p.SequenceNumber, err)
		}
		cur = append(cur, b...)
		curTS, started = p.Timestamp, true
		if !video || p.Marker {
			rec.frames = append(rec.frames, assembled{ts: curTS, data: cur})
			cur, started = nil, false
		}
		return nil
	}
}

// runResult is a finished harness run.
type runResult struct {
	events []eventRec
	tracks map[string]*trackRec
	order  []string
	wall   time.Duration
	stats  Stats
}

// runRoom runs a manifest to its end on clock, with a compositor-like
// goroutine holding the clock and ticking every 33 ms up to until, which
// must be reached (a leaked hold would stop it), and then checks that the
// clock runs free. until should be when the room ends: nothing but the
// compositor holds the clock after the last peer left, so the time at which
// the test reads that last PeerLeft is only pinned by the compositor
// stopping there.
func runRoom(t *testing.T, manifest string, clock mediaclock.Clock, opts Options, until time.Duration, assemble bool) *runResult {
	t.Helper()
	opts.Clock = clock
	r, err := Open(manifest, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := newHarness(clock, r, assemble)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticked := make(chan time.Duration, 1)
	clock.Hold()
	go func() {
		defer clock.Release()
		// Tick like a 30 fps compositor, then land on until exactly: the
		// clock never passes it, so events due at until are seen at until.
		for tick := time.Duration(0); tick < until; tick += 33 * time.Millisecond {
			if err := clock.SleepUntil(ctx, tick); err != nil {
				ticked <- clock.Now()
				return
			}
		}
		if err := clock.SleepUntil(ctx, until); err != nil {
			ticked <- clock.Now()
			return
		}
		ticked <- clock.Now()
	}()

	start := time.Now()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventsDone := make(chan struct{})
	go h.consume(eventsDone)
	waitFor(t, eventsDone, "the Events channel to close")
	readersDone := make(chan struct{})
	go func() { h.wg.Wait(); close(readersDone) }()
	waitFor(t, readersDone, "every track reader to get EOF")
	select {
	case now := <-ticked:
		if now != until && clock.Virtual() {
			t.Fatalf("compositor stopped at %v, want %v", now, until)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the clock never reached %v: it is at %v (a hold leaked?)", until, clock.Now())
	}
	wall := time.Since(start)
	// With the room over and every reader at EOF, nothing may hold the
	// clock any more: a sleeper must get a second past the end.
	clock.Hold()
	slept := make(chan error, 1)
	go func() { slept <- clock.SleepUntil(ctx, clock.Now()+time.Second); clock.Release() }()
	select {
	case err := <-slept:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the clock is stuck at %v after the room ended: a hold leaked", clock.Now())
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range h.order {
		if err := h.tracks[id].readErr; err != nil {
			t.Errorf("track %s: %v", id, err)
		}
	}
	return &runResult{events: h.events, tracks: h.tracks, order: h.order, wall: wall, stats: r.Stats()}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// srMapper maps RTP timestamps to job time through a track's sender reports.
type srMapper struct {
	epoch time.Time
	sr    rtcp.SenderReport
	rate  float64
}

func ntpToTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochOffset
	nanos := (ntp & 0xffffffff) * uint64(time.Second) >> 32
	return time.Unix(secs, int64(nanos))
}

// at returns the job time of RTP timestamp ts.
func (m srMapper) at(ts uint32) time.Duration {
	base := ntpToTime(m.sr.NTPTime).Sub(m.epoch)
	diff := int32(ts - m.sr.RTPTime) // wrap-safe
	return base + time.Duration(float64(diff)/m.rate*float64(time.Second))
}

// decodeVideo decodes assembled frames with FFmpeg and calls fn with each
// picture and the timestamp of the frame that produced it.
func decodeVideo(t *testing.T, rec *trackRec, fn func(ts uint32, f *astiav.Frame)) int {
	t.Helper()
	id := map[string]astiav.CodecID{"video/VP8": astiav.CodecIDVp8, "video/VP9": astiav.CodecIDVp9, "video/H264": astiav.CodecIDH264}[rec.info.Codec.MimeType]
	if rec.info.Codec.MimeType == "video/AV1" {
		c := astiav.FindDecoderByName("libdav1d")
		if c == nil {
			t.Fatal("no libdav1d decoder")
		}
		id = c.ID()
	}
	return decode(t, rec, id, nil, func(ts uint32, f *astiav.Frame) { fn(ts, f) })
}

// decodeAudio decodes Opus frames and returns channel 0 as float samples,
// with the RTP timestamp of the first frame.
func decodeAudio(t *testing.T, rec *trackRec) (samples []float32, firstTS uint32) {
	t.Helper()
	first := true
	decode(t, rec, astiav.CodecIDOpus, func(cc *astiav.CodecContext) {
		cc.SetSampleRate(48000)
		cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	}, func(ts uint32, f *astiav.Frame) {
		if first {
			firstTS, first = ts, false
		}
		planes, err := avframe.AudioPlanes(f, 2)
		if err != nil {
			t.Fatal(err)
		}
		if f.SampleFormat() != astiav.SampleFormatFltp {
			t.Fatalf("sample format %s", f.SampleFormat())
		}
		for i := 0; i < f.NbSamples(); i++ {
			samples = append(samples, math.Float32frombits(uint32(planes[0][4*i])|uint32(planes[0][4*i+1])<<8|uint32(planes[0][4*i+2])<<16|uint32(planes[0][4*i+3])<<24))
		}
	})
	return samples, firstTS
}

func decode(t *testing.T, rec *trackRec, id astiav.CodecID, setup func(*astiav.CodecContext), fn func(ts uint32, f *astiav.Frame)) int {
	t.Helper()
	codec := astiav.FindDecoder(id)
	if codec == nil {
		t.Fatalf("no decoder for %s", id)
	}
	cc := astiav.AllocCodecContext(codec)
	defer cc.Free()
	if setup != nil {
		setup(cc)
	}
	cc.SetThreadCount(1)
	if err := cc.Open(codec, nil); err != nil {
		t.Fatalf("open %s decoder: %v", id, err)
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	f := astiav.AllocFrame()
	defer f.Free()
	n := 0
	receive := func() {
		for {
			if err := cc.ReceiveFrame(f); err != nil {
				if !errors.Is(err, astiav.ErrEagain) && !errors.Is(err, astiav.ErrEof) {
					t.Fatalf("%s: decode: %v", rec.info.ID, err)
				}
				return
			}
			fn(uint32(f.Pts()), f)
			n++
			f.Unref()
		}
	}
	for _, fr := range rec.frames {
		if err := pkt.FromData(fr.data); err != nil {
			t.Fatal(err)
		}
		pkt.SetPts(int64(fr.ts))
		if err := cc.SendPacket(pkt); err != nil {
			t.Fatalf("%s: frame at ts %d: %v", rec.info.ID, fr.ts, err)
		}
		pkt.Unref()
		receive()
	}
	if err := cc.SendPacket(nil); err == nil {
		receive()
	}
	return n
}

// cornerYUV averages the top-left 16x16 luma and 8x8 chroma of a picture.
func cornerYUV(t *testing.T, f *astiav.Frame) [3]int {
	t.Helper()
	planes, ls, err := avframe.VideoPlanes(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [3]int
	for i, n := range []int{16, 8, 8} {
		sum := 0
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				sum += int(planes[i][y*ls[i]+x])
			}
		}
		out[i] = sum / (n * n)
	}
	return out
}
