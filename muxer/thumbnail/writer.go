package thumbnail

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
)

// Options configure a Writer.
type Options struct {
	// Dir receives the thumbnails; it is created.
	Dir string
	// Every is the time between thumbnails, in output time; the first is
	// taken at Every. Required.
	Every time.Duration
	// Width and Height are the composite's; FPS its frame rate.
	Width, Height, FPS int
	// MaxWidth scales larger composites down, keeping the aspect ratio.
	// Default 1280.
	MaxWidth int
	Logger   *slog.Logger
	// OnWrite is told each thumbnail written, with its number and path.
	OnWrite func(n int, path string)
}

// Writer takes the thumbnails. Frame is called from the compositor's
// goroutine; Close once it has stopped.
type Writer struct {
	opts  Options
	log   *slog.Logger
	every int64 // frames between thumbnails

	sws  *astiav.SoftwareScaleContext
	pic  [2]*astiav.Frame // converted frames: one being encoded, one free
	free chan *astiav.Frame
	todo chan job
	done chan struct{}

	mu      sync.Mutex
	count   int
	skipped int
	err     error

	// writeFn is write; a test slows it down.
	writeFn func(n int, f *astiav.Frame) (string, error)
}

type job struct {
	n int
	f *astiav.Frame
}

// New makes the folder, the converter and the encoder's goroutine.
func New(opts Options) (*Writer, error) {
	if opts.Every <= 0 || opts.FPS <= 0 || opts.Width <= 0 || opts.Height <= 0 {
		return nil, errors.New("thumbnail: Every, FPS, Width and Height are required")
	}
	if opts.MaxWidth <= 0 {
		opts.MaxWidth = 1280
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("thumbnail: %w", err)
	}
	w, h := opts.Width, opts.Height
	if w > opts.MaxWidth {
		w, h = opts.MaxWidth, (h*opts.MaxWidth/w)&^1
	}
	every := max(1, int64(opts.Every)*int64(opts.FPS)/int64(time.Second))
	sws, err := astiav.CreateSoftwareScaleContext(opts.Width, opts.Height, astiav.PixelFormatYuv420P, w, h, astiav.PixelFormatYuvj420P,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
	if err != nil {
		return nil, fmt.Errorf("thumbnail: converter: %w", err)
	}
	t := &Writer{opts: opts, log: opts.Logger, every: every, sws: sws,
		free: make(chan *astiav.Frame, 2), todo: make(chan job, 2), done: make(chan struct{})}
	t.writeFn = t.write
	for i := range t.pic {
		f := astiav.AllocFrame()
		f.SetWidth(w)
		f.SetHeight(h)
		f.SetPixelFormat(astiav.PixelFormatYuvj420P)
		f.SetColorRange(astiav.ColorRangeJpeg)
		if err := f.AllocBuffer(0); err != nil {
			f.Free()
			t.freeAll()
			return nil, fmt.Errorf("thumbnail: %w", err)
		}
		t.pic[i] = f
		t.free <- f
	}
	go t.encodeLoop()
	return t, nil
}

// Frame takes frame n of the composite if a thumbnail is due. It never
// waits: when the encoder is still busy with the last two, this one is
// skipped.
func (t *Writer) Frame(f *astiav.Frame, n int64) {
	if n == 0 || n%t.every != 0 {
		return
	}
	var dst *astiav.Frame
	select {
	case dst = <-t.free:
	default:
		t.mu.Lock()
		t.skipped++
		t.mu.Unlock()
		t.log.Warn("thumbnail: skipped, the last ones are still being written", "frame", n)
		return
	}
	if err := t.sws.ScaleFrame(f, dst); err != nil {
		t.fail(fmt.Errorf("thumbnail: converting frame %d: %w", n, err))
		t.free <- dst
		return
	}
	t.todo <- job{n: int(n / t.every), f: dst}
}

func (t *Writer) encodeLoop() {
	defer close(t.done)
	for j := range t.todo {
		path, err := t.writeFn(j.n, j.f)
		t.free <- j.f
		if err != nil {
			t.fail(err)
			continue
		}
		t.mu.Lock()
		t.count++
		t.err = nil
		t.mu.Unlock()
		if t.opts.OnWrite != nil {
			t.opts.OnWrite(j.n, path)
		}
	}
}

// write encodes f and writes it as thumbnail n and as latest.jpg, each
// through a temporary file renamed into place, so a reader never sees half
// a JPEG.
func (t *Writer) write(n int, f *astiav.Frame) (string, error) {
	data, err := encodeJPEG(f)
	if err != nil {
		return "", fmt.Errorf("thumbnail %d: %w", n, err)
	}
	name := filepath.Join(t.opts.Dir, fmt.Sprintf("%06d.jpg", n))
	for _, p := range []string{name, filepath.Join(t.opts.Dir, "latest.jpg")} {
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return "", fmt.Errorf("thumbnail %d: %w", n, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("thumbnail %d: %w", n, err)
		}
	}
	return name, nil
}

// encodeJPEG encodes one picture with FFmpeg's MJPEG encoder at quality 3
// (of 2..31, lower is better). A fresh encoder per picture: one every few
// seconds costs nothing, and none is kept open meanwhile.
func encodeJPEG(f *astiav.Frame) ([]byte, error) {
	codec := astiav.FindEncoder(astiav.CodecIDMjpeg)
	if codec == nil {
		return nil, errors.New("FFmpeg has no MJPEG encoder")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("allocating the MJPEG encoder")
	}
	defer cc.Free()
	cc.SetWidth(f.Width())
	cc.SetHeight(f.Height())
	cc.SetPixelFormat(astiav.PixelFormatYuvj420P)
	cc.SetTimeBase(astiav.NewRational(1, 25))
	cc.SetFlags(astiav.NewCodecContextFlags(astiav.CodecContextFlagQscale))
	d := astiav.NewDictionary()
	defer d.Free()
	if err := d.Set("global_quality", fmt.Sprint(3*118), 0); err != nil { // FF_QP2LAMBDA
		return nil, err
	}
	if err := cc.Open(codec, d); err != nil {
		return nil, fmt.Errorf("opening the MJPEG encoder: %w", err)
	}
	if err := cc.SendFrame(f); err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	if err := cc.SendFrame(nil); err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	p := astiav.AllocPacket()
	defer p.Free()
	if err := cc.ReceivePacket(p); err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	return append([]byte(nil), p.Data()...), nil
}

func (t *Writer) fail(err error) {
	t.log.Warn("thumbnail failed", "err", err)
	t.mu.Lock()
	t.err = err
	t.mu.Unlock()
}

// State is the thumbnails so far: how many were written (a skipped one
// leaves a gap in the numbers, which follow output time), and the last
// error (cleared by the next thumbnail written).
func (t *Writer) State() (count int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count, t.err
}

// Close waits for the thumbnails being written and frees the buffers.
// Frame must not be called again.
func (t *Writer) Close() {
	close(t.todo)
	<-t.done
	t.freeAll()
}

func (t *Writer) freeAll() {
	for _, f := range t.pic {
		if f != nil {
			f.Free()
		}
	}
	if t.sws != nil {
		t.sws.Free()
		t.sws = nil
	}
}
