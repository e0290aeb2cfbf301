package mp4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// fragmentDuration caps an MP4 fragment. Fragments are also cut at every
// keyframe; the cap bounds what a crash can lose to about a second rather than
// a whole 2 s GOP.
const fragmentDuration = 1_000_000 // µs

// Sink writes the archival recording: a fragmented MP4 written through
// FFmpeg's mp4 muxer directly to its final path. The moov comes first and
// empty, then one moof+mdat per fragment, each flushed to the file as soon as
// it is cut, so a process killed at any moment leaves a file that plays up to
// its last complete fragment. Close writes the trailer (the mfra index).
//
// It survives a crash of the process, not of the machine: it does not fsync.
type Sink struct {
	path string
	log  *slog.Logger

	fc     *astiav.FormatContext
	pb     *astiav.IOContext
	out    *avmux.Output
	header bool
	closed bool
}

var _ output.Sink = (*Sink)(nil)

// Options configure a Sink.
type Options struct {
	// Path is the file to record to, created or truncated at Open.
	Path string
	// Logger receives the sink's logs; nil discards them.
	Logger *slog.Logger
}

// New returns a sink that records to opts.Path.
func New(opts Options) *Sink {
	return &Sink{path: opts.Path, log: logger(opts.Logger).With("sink", "file", "path", opts.Path)}
}

// Open implements Sink: it creates the file and writes the MP4 header.
func (s *Sink) Open(_ context.Context, info output.StreamInfo, _ output.Reporter) error {
	if s.fc != nil || s.closed {
		return errors.New("muxer: file sink opened twice")
	}
	if err := s.open(info); err != nil {
		return fmt.Errorf("muxer: opening recording %s: %w", s.path, err)
	}
	s.log.Info("recording opened")
	return nil
}

func (s *Sink) open(info output.StreamInfo) error {
	if (info.HasVideo() && info.Video.FPS <= 0) || info.Audio.SampleRate <= 0 {
		return fmt.Errorf("stream info without frame rate (%d) or sample rate (%d)", info.Video.FPS, info.Audio.SampleRate)
	}
	format := "mp4"
	if !info.HasVideo() {
		// The same muxer with the M4A brand, which audio players expect
		// of a .m4a; fragments are then cut by frag_duration alone.
		format = "ipod"
	}
	fc, err := astiav.AllocOutputFormatContext(nil, format, s.path)
	if err != nil {
		return fmt.Errorf("allocating mp4 muxer: %w", err)
	}
	s.fc = fc

	if s.out, err = avmux.New(fc, info); err != nil {
		return err
	}

	pb, err := astiav.OpenIOContext(s.path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	s.pb = pb
	fc.SetPb(pb)

	opts := astiav.NewDictionary()
	defer opts.Free()
	for _, kv := range [][2]string{
		// empty_moov: the header needs no sample tables, so it can be
		// written first and never rewritten. frag_keyframe: fragments start
		// at keyframes. default_base_moof: self-contained fragments, the
		// form players and MSE expect.
		{"movflags", "frag_keyframe+empty_moov+default_base_moof"},
		{"frag_duration", strconv.Itoa(fragmentDuration)},
		// Flush the AVIO buffer after each write: fragments reach the file
		// as soon as the muxer emits them instead of sitting in a 32 KiB
		// buffer that a crash would lose.
		{"flush_packets", "1"},
	} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			return fmt.Errorf("setting mp4 option %s: %w", kv[0], err)
		}
	}
	if err := fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("writing header: %w", err)
	}
	s.header = true
	if err := avmux.UnusedOptions(opts); err != nil {
		return fmt.Errorf("mp4 muxer: %w", err)
	}
	return nil
}

// Write implements Sink.
func (s *Sink) Write(_ context.Context, p *output.Packet) error {
	if !s.header || s.closed {
		return errors.New("muxer: file sink is not open")
	}
	if err := s.out.Write(p); err != nil {
		return fmt.Errorf("muxer: recording %s: %w", s.path, err)
	}
	return nil
}

// Close implements Sink: it writes the trailer and closes the file.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.header {
		if err := s.fc.WriteTrailer(); err != nil {
			errs = append(errs, fmt.Errorf("writing trailer: %w", err))
		}
	}
	if s.pb != nil {
		if err := s.pb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing file: %w", err))
		}
		s.pb = nil
	}
	if s.fc != nil {
		s.fc.Free()
		s.fc = nil
	}
	if s.out != nil {
		s.out.Free()
		s.out = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("muxer: closing recording %s: %w", s.path, err)
	}
	s.log.Info("recording closed")
	return nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
