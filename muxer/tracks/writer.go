package tracks

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/internal/avpacket"
)

// Crash safety: what a SIGKILL can lose is bounded by these. The MP4 is cut
// into fragments at keyframes and at least every fragmentDuration; the WebM
// into clusters of at most clusterTime. Both are flushed to the file as
// soon as they are cut.
const (
	fragmentDuration = 1_000_000 // µs
	clusterTime      = 1000      // ms
)

// minStep is the least time between two frames of a file, µs: WebM's
// resolution.
const minStep = 1000

// timeBase is the packets' time base: job time in microseconds.
var timeBase = astiav.NewRational(1, 1_000_000)

// queueLen is how many frames wait for the muxer: about two seconds of
// video, more than a second of audio.
const queueLen = 64

// Writer records one track to one file: its Frame is the pipeline's tap. The
// file is created at the track's first keyframe (video) or first packet
// (audio), which is its time 0 and its start offset on the job's timeline.
//
// Frame copies the frame into a buffer of a fixed pool and queues it for the
// Writer's goroutine, which muxes and writes: a slow or stuck disk costs
// track frames, never the live path a frame. When the queue is full a
// frame is dropped, and a video track then drops up to its next keyframe
// (what follows a lost frame does not decode); Dropped counts them. Frame and
// Close run on the pipeline's goroutine; Start, Frames and Dropped may be
// read from any.
type Writer struct {
	path  string
	codec codec
	log   *slog.Logger
	// opened is told the start offset once the file exists.
	opened func(start time.Duration)

	// The pipeline's side.
	free     chan *frame
	todo     chan *frame
	done     chan struct{}
	dropping bool // a video frame was dropped: wait for a keyframe
	closed   bool

	// The goroutine's side, and Close's once it has ended.
	write   func(f *frame) // w.mux; a test slows it down
	fc      *astiav.FormatContext
	pb      *astiav.IOContext
	st      *astiav.Stream
	pkt     *astiav.Packet
	scratch []byte
	last    int64 // the last packet's pts, µs
	failed  bool

	mu      sync.Mutex
	started bool
	start   time.Duration
	frames  int64
	dropped int64
}

// frame is a queued frame; data is the pool buffer's, reused.
type frame struct {
	data []byte
	t    time.Duration
	key  bool
}

func newWriter(path string, c codec, log *slog.Logger) *Writer {
	w := &Writer{
		path: path, codec: c, log: log,
		free: make(chan *frame, queueLen), todo: make(chan *frame, queueLen), done: make(chan struct{}),
	}
	w.write = w.mux
	for range queueLen {
		w.free <- &frame{}
	}
	go w.run()
	return w
}

// Frame queues one frame at job time t (the Tap interface). It never
// blocks, and allocates only while the pool's buffers grow to the track's
// largest frame.
func (w *Writer) Frame(data []byte, t time.Duration, key bool) {
	if w.closed {
		return
	}
	if w.dropping && !key {
		w.drop()
		return
	}
	select {
	case f := <-w.free:
		w.dropping = false
		f.data = append(f.data[:0], data...)
		f.t, f.key = t, key
		w.todo <- f // never blocks: todo holds the whole pool
	default:
		w.drop()
		w.dropping = w.codec.video
	}
}

func (w *Writer) drop() {
	w.mu.Lock()
	w.dropped++
	w.mu.Unlock()
}

func (w *Writer) run() {
	defer close(w.done)
	for f := range w.todo {
		w.write(f)
		w.free <- f
	}
}

// mux writes one frame, opening the file at the first one it can start
// with. Video before the first keyframe is dropped; a write error stops the
// file and is logged once.
func (w *Writer) mux(f *frame) {
	if w.failed {
		return
	}
	if w.fc == nil {
		if w.codec.video && !f.key {
			return
		}
		if err := w.open(f.data, f.t); err != nil {
			w.fail(fmt.Errorf("opening: %w", err))
			return
		}
	}
	if err := w.writePacket(f.data, f.t, f.key); err != nil {
		w.fail(err)
	}
}

func (w *Writer) fail(err error) {
	w.failed = true
	w.log.Warn("track recording stopped", "err", err)
}

func (w *Writer) open(first []byte, t time.Duration) error {
	fc, err := astiav.AllocOutputFormatContext(nil, w.codec.format, w.path)
	if err != nil {
		return fmt.Errorf("allocating %s muxer: %w", w.codec.format, err)
	}
	w.fc = fc
	w.st = fc.NewStream(nil)
	if w.st == nil {
		return errors.New("adding the stream failed")
	}
	if err := w.codec.params(w.st.CodecParameters(), first); err != nil {
		return err
	}
	w.st.SetTimeBase(timeBase)
	pb, err := astiav.OpenIOContext(w.path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	w.pb = pb
	fc.SetPb(pb)
	opts := astiav.NewDictionary()
	defer opts.Free()
	kv := [][2]string{{"flush_packets", "1"}}
	if w.codec.format == "mp4" {
		// As muxer/mp4's archive: an empty moov first, then self-contained
		// fragments, so a killed job leaves a file that plays.
		kv = append(kv, [2]string{"movflags", "frag_keyframe+empty_moov+default_base_moof"},
			[2]string{"frag_duration", strconv.Itoa(fragmentDuration)})
	} else {
		kv = append(kv, [2]string{"cluster_time_limit", strconv.Itoa(clusterTime)})
	}
	for _, o := range kv {
		if err := opts.Set(o[0], o[1], 0); err != nil {
			return fmt.Errorf("setting %s option %s: %w", w.codec.format, o[0], err)
		}
	}
	if err := fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("writing header: %w", err)
	}
	if err := avmux.UnusedOptions(opts); err != nil {
		return fmt.Errorf("%s muxer: %w", w.codec.format, err)
	}
	w.pkt = astiav.AllocPacket()
	w.last = -minStep
	w.mu.Lock()
	w.started, w.start = true, t
	w.mu.Unlock()
	w.log.Info("track recording opened", "start", t)
	if w.opened != nil {
		w.opened(t)
	}
	return nil
}

func (w *Writer) writePacket(data []byte, t time.Duration, key bool) error {
	pts := (t - w.start).Microseconds()
	// Job times can step back a little: a live room's first packets are
	// placed by their arrival until the sender's first report gives the
	// exact mapping. Both muxers want time to grow (strictly, once WebM
	// rounds it to milliseconds), so a frame is never put before the
	// previous one plus a millisecond.
	if pts < w.last+minStep {
		pts = w.last + minStep
	}
	w.last = pts
	var err error
	if w.scratch, err = avpacket.SetData(w.pkt, data, w.scratch); err != nil {
		return err
	}
	w.pkt.SetStreamIndex(w.st.Index())
	w.pkt.SetPts(pts)
	w.pkt.SetDts(pts)
	var flags astiav.PacketFlags
	if key {
		flags = flags.Add(astiav.PacketFlagKey)
	}
	w.pkt.SetFlags(flags)
	w.pkt.RescaleTs(timeBase, w.st.TimeBase())
	// One stream: no interleaving to wait for, so the packet is written
	// (and flushed) now. The muxer takes the packet's reference.
	if err := w.fc.WriteFrame(w.pkt); err != nil {
		w.pkt.Unref()
		return fmt.Errorf("writing packet at %dµs: %w", pts, err)
	}
	w.mu.Lock()
	w.frames++
	w.mu.Unlock()
	return nil
}

// Start returns the file's start offset on the job's timeline, and whether
// the file exists yet.
func (w *Writer) Start() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.start, w.started
}

// Frames is how many frames the file holds.
func (w *Writer) Frames() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// Dropped is how many frames did not reach the file because the queue was
// full.
func (w *Writer) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Close writes what is queued, finalizes the file (the MP4's index, the
// WebM's cues and duration) and frees the muxer. A track that never sent a
// keyframe leaves no file.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	close(w.todo)
	<-w.done
	if n := w.Dropped(); n > 0 {
		w.log.Warn("track recording dropped frames: the disk was too slow", "dropped", n)
	}
	var errs []error
	if w.fc != nil && w.pkt != nil && !w.failed {
		if err := w.fc.WriteTrailer(); err != nil {
			errs = append(errs, fmt.Errorf("writing trailer: %w", err))
		}
	}
	if w.pb != nil {
		if err := w.pb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing file: %w", err))
		}
	}
	if w.fc != nil {
		w.fc.Free()
	}
	if w.pkt != nil {
		w.pkt.Free()
	}
	if w.fc != nil && w.pkt == nil {
		// Opening failed half-way: no file worth keeping.
		_ = os.Remove(w.path)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tracks: closing %s: %w", w.path, err)
	}
	return nil
}
