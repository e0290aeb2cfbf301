package mp4

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// fragmentDuration caps an MP4 fragment. Fragments are also cut at every
// keyframe; the cap bounds what a crash can lose to about a second rather than
// a whole 2 s GOP.
const fragmentDuration = 1_000_000 // µs

// checkEvery is how often the sink looks at its file and folder while it
// records (was the file removed?), and at the disk while it waits for room.
const checkEvery = time.Second

// MinFree is the free space a suspended recording waits for, on top of two
// GOPs of media at the stream's bitrates, before it opens its next file:
// room for the other outputs and the file system, so that a disk that just
// got a few bytes back does not fail again at once.
const MinFree = 1 << 20

// ioBuffer is the AVIO buffer FFmpeg writes through to the file.
const ioBuffer = 64 << 10

// Sink writes the archival recording: a fragmented MP4 written through
// FFmpeg's mp4 muxer directly to its final path. The moov comes first and
// empty, then one moof+mdat per fragment, each flushed to the file as soon as
// it is cut, so a process killed at any moment leaves a file that plays up to
// its last complete fragment. Close writes the trailer (the mfra index).
//
// It survives a crash of the process, not of the machine: it does not fsync.
//
// The sink owns the file's descriptor (FFmpeg writes through an AVIO
// context whose callbacks write to it), so it sees every write error itself
// and knows where the last whole fragment ends, whatever FFmpeg reports.
//
// A write that fails (a full disk, an I/O error) does not end the sink.
// The file is cut back to its last whole fragment and closed, so it plays
// to the end; the sink reports the error (Running false, the error naming
// the file), drops what it is given, and about once a second checks the
// disk (free space of at least MinFree plus two GOPs, the folder there and
// writable). When there is room it opens the next file at the next video
// keyframe (any packet without video), named by Options.FileName, and
// reports Running again. Like any MP4 a resumed file starts at time zero;
// the log gives where it begins on the job's timeline.
//
// Once a second it also checks that its path still names the file it
// writes. On Linux a removed file (rm -rf of the job's folder) keeps being
// written to its unlinked inode, which vanishes when closed; so the sink
// recreates the folder, copies the bytes written so far from its open
// descriptor back to the path, and carries on writing there: nothing is
// lost, and the log and a transient error in the state say it happened.
// If that cannot be done at once (the disk is full or read-only) it writes
// on into the open file, reports the error while running, and tries again
// at every check; only a file it never could put back before Close is
// lost, and Close says so.
type Sink struct {
	path     string
	fileName func(n int) string
	onFile   func(path string)
	now      func() time.Time // time.Now; tests drive it by the media's time
	log      *slog.Logger
	rep      output.Reporter
	info     output.StreamInfo

	fc  *astiav.FormatContext
	pb  *astiav.IOContext
	out *avmux.Output
	w   *fileWriter // the current file; nil while suspended
	n   int         // the current (or last) file's number, from 1
	fi  os.FileInfo // the current file, as opened

	header    bool
	closed    bool
	nextCheck time.Time
	// While suspended: why, and whether the last check found room.
	suspended error
	ready     bool
	// lost: the open file's path no longer names it, and putting it
	// back has not worked yet.
	lost error
	// resumedAt is the time of the keyframe a resumed file began with:
	// audio from before it is dropped, since FFmpeg shifts a file's
	// timestamps to start at zero from its first packet.
	resumedAt time.Duration
	dropped   int64 // packets dropped while suspended, since the last resume

	// written is the media payload in whole fragments on disk, over every
	// file; pending the payload the muxer holds in the fragment it is
	// making (lost if a write fails).
	written atomic.Int64
	pending int64

	mu    sync.Mutex
	files []string
}

var (
	_ output.Sink        = (*Sink)(nil)
	_ output.ByteCounter = (*Sink)(nil)
)

// Options configure a Sink.
type Options struct {
	// Path is the file to record to, created or truncated at Open.
	Path string
	// FileName names the n-th file of the recording (n from 2) that the
	// sink opens when it resumes after a write error. Nil gives
	// NextFileName(Path, n); the worker passes jobstate.ResumeFile's names,
	// which never collide with a fleet's part files.
	FileName func(n int) string
	// OnFile, if set, is called on the sink's goroutine with each file's
	// path right after it is created (the first one included), e.g. to
	// upload it. It must not block.
	OnFile func(path string)
	// Logger receives the sink's logs; nil discards them.
	Logger *slog.Logger
}

// NextFileName is the default name of a recording's n-th file:
// recording.mp4, recording.2.mp4, recording.3.mp4, …
func NextFileName(path string, n int) string {
	if n <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + strconv.Itoa(n) + ext
}

// New returns a sink that records to opts.Path.
func New(opts Options) *Sink {
	s := &Sink{path: opts.Path, fileName: opts.FileName, log: logger(opts.Logger).With("sink", "file", "path", opts.Path)}
	if s.fileName == nil {
		s.fileName = func(n int) string { return NextFileName(opts.Path, n) }
	}
	s.onFile = opts.OnFile
	s.now = time.Now
	return s
}

// Files returns the paths of the files the sink has written so far, in
// order; the last is the current one. Safe from any goroutine.
func (s *Sink) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.files...)
}

// BytesWritten implements output.ByteCounter: the media payload in whole
// fragments on disk, over every file; packets dropped while the disk was
// full, and a fragment cut back after a failed write, do not count.
func (s *Sink) BytesWritten() int64 { return s.written.Load() }

// Open implements Sink: it creates the file and writes the MP4 header.
func (s *Sink) Open(_ context.Context, info output.StreamInfo, rep output.Reporter) error {
	if s.header || s.closed {
		return errors.New("muxer: file sink opened twice")
	}
	s.rep = rep
	if s.rep == nil {
		s.rep = output.ReporterFunc(func(output.SinkState) {})
	}
	s.info = info
	if err := s.openFile(1, false); err != nil {
		return fmt.Errorf("muxer: opening recording %s: %w", s.path, err)
	}
	s.header = true
	s.nextCheck = s.now().Add(checkEvery)
	s.log.Info("recording opened")
	return nil
}

// openFile creates the n-th file and writes its header; mkdir recreates
// its folder if it is missing (not for the first file, whose folder the
// job made: a missing one there is a bad path).
func (s *Sink) openFile(n int, mkdir bool) error {
	info := s.info
	if (info.HasVideo() && info.Video.FPS <= 0) || info.Audio.SampleRate <= 0 {
		return fmt.Errorf("stream info without frame rate (%d) or sample rate (%d)", info.Video.FPS, info.Audio.SampleRate)
	}
	path := s.fileName(n)
	if mkdir {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating folder: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	w := &fileWriter{f: f, path: path}
	if err := s.startMuxer(w); err != nil {
		s.freeMuxer()
		f.Close()
		os.Remove(path)
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		s.freeMuxer()
		f.Close()
		os.Remove(path)
		return fmt.Errorf("stat of new file: %w", err)
	}
	s.w, s.n, s.fi = w, n, fi
	s.pending = 0
	s.mu.Lock()
	s.files = append(s.files, path)
	s.mu.Unlock()
	if s.onFile != nil {
		s.onFile(path)
	}
	return nil
}

// startMuxer sets up FFmpeg's mp4 muxer on w and writes the header.
func (s *Sink) startMuxer(w *fileWriter) error {
	format := "mp4"
	if !s.info.HasVideo() {
		// The same muxer with the M4A brand, which audio players expect
		// of a .m4a; fragments are then cut by frag_duration alone.
		format = "ipod"
	}
	fc, err := astiav.AllocOutputFormatContext(nil, format, w.path)
	if err != nil {
		return fmt.Errorf("allocating mp4 muxer: %w", err)
	}
	s.fc = fc
	if s.out, err = avmux.New(fc, s.info); err != nil {
		return err
	}
	if s.pb, err = astiav.AllocIOContext(ioBuffer, true, nil, w.seek, w.write); err != nil {
		return fmt.Errorf("allocating AVIO context: %w", err)
	}
	fc.SetPb(s.pb)

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
		// as soon as the muxer emits them instead of sitting in the
		// buffer that a crash would lose.
		{"flush_packets", "1"},
	} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			return fmt.Errorf("setting mp4 option %s: %w", kv[0], err)
		}
	}
	if err := fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("writing header: %w", w.errOr(err))
	}
	s.pb.Flush()
	if w.err != nil {
		return fmt.Errorf("writing header: %w", w.err)
	}
	w.good = w.size
	if err := avmux.UnusedOptions(opts); err != nil {
		return fmt.Errorf("mp4 muxer: %w", err)
	}
	return nil
}

func (s *Sink) freeMuxer() {
	if s.fc != nil {
		s.fc.Free()
		s.fc = nil
	}
	if s.pb != nil {
		s.pb.Free()
		s.pb = nil
	}
	if s.out != nil {
		s.out.Free()
		s.out = nil
	}
}

// Write implements Sink.
func (s *Sink) Write(_ context.Context, p *output.Packet) error {
	if !s.header || s.closed {
		return errors.New("muxer: file sink is not open")
	}
	now := s.now()
	if s.w == nil {
		s.whileSuspended(p, now)
		return nil
	}
	if !now.Before(s.nextCheck) {
		s.nextCheck = now.Add(checkEvery)
		s.checkFile(now)
		if s.w == nil {
			s.dropped++
			return nil
		}
	}
	if p.Kind == output.Audio && s.resumedAt > 0 && p.Time(&s.info) < s.resumedAt {
		return nil
	}
	w := s.w
	err := s.out.Write(p)
	if err == nil {
		s.pb.Flush()
	}
	if err != nil || w.err != nil {
		s.suspend(writeError(w.path, w.errOr(err)), now)
		s.dropped++
		return nil
	}
	s.wrote(p)
	return nil
}

// wrote accounts for p, which the muxer took. It hands a fragment to AVIO
// whole and flush_packets writes it out before the call returns, so the
// file now ends on a fragment; if the call wrote one, it holds every
// packet before p, and p begins the next (a keyframe, or the packet past
// frag_duration).
func (s *Sink) wrote(p *output.Packet) {
	w := s.w
	if w.size > w.good {
		s.written.Add(s.pending)
		s.pending = 0
		w.good = w.size
	}
	s.pending += int64(len(p.Data))
}

// suspend closes the current file at its last whole fragment and reports
// err: the sink drops packets until whileSuspended finds room again.
func (s *Sink) suspend(err error, now time.Time) {
	kept := s.w.good
	path := s.w.path
	if cerr := s.closeFile(false); cerr != nil {
		err = fmt.Errorf("%w; closing it: %v", err, cerr)
	}
	s.suspended, s.ready, s.dropped = err, false, 0
	s.nextCheck = now.Add(checkEvery)
	s.log.Error("recording suspended: the file keeps what was written up to its last whole fragment; the recording resumes in a new file when the disk has room",
		"err", err, "file", path, "kept_bytes", kept)
	s.rep.Report(output.SinkState{Running: false, Err: err})
}

// whileSuspended drops p, checks the disk once a second, and opens the
// next file at a keyframe once there is room.
func (s *Sink) whileSuspended(p *output.Packet, now time.Time) {
	if !s.ready && !now.Before(s.nextCheck) {
		s.nextCheck = now.Add(checkEvery)
		if err := s.roomForNext(); err != nil {
			s.log.Debug("recording still suspended", "err", err)
		} else {
			s.ready = true
		}
	}
	start := p.Kind == output.Video && p.Key || !s.info.HasVideo()
	if !s.ready || !start {
		s.dropped++
		return
	}
	if err := s.openFile(s.n+1, true); err != nil {
		s.ready = false
		s.dropped++
		err = fmt.Errorf("recording %s: %w", s.fileName(s.n+1), err)
		if errText(err) != errText(s.suspended) {
			s.suspended = err
			s.log.Warn("recording could not resume", "err", err)
			s.rep.Report(output.SinkState{Running: false, Err: err})
		}
		return
	}
	s.log.Info("recording resumed in a new file", "file", s.w.path, "at", p.Time(&s.info), "dropped_packets", s.dropped)
	s.suspended, s.dropped = nil, 0
	s.resumedAt = p.Time(&s.info)
	s.nextCheck = now.Add(checkEvery)
	s.rep.Report(output.SinkState{Running: true})
	// The file is open: this keyframe is its first packet.
	w := s.w
	err := s.out.Write(p)
	if err == nil {
		s.pb.Flush()
	}
	if err != nil || w.err != nil {
		s.suspend(writeError(w.path, w.errOr(err)), now)
		return
	}
	s.wrote(p)
}

// roomForNext says whether the next file can be opened: its folder can be
// made, and the disk has MinFree plus two GOPs free.
func (s *Sink) roomForNext() error {
	dir := filepath.Dir(s.fileName(s.n + 1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	free := int64(fs.Bavail) * int64(fs.Bsize) //nolint:unconvert // field types differ by platform
	need := MinFree + int64(s.info.Video.Bitrate+s.info.Audio.Bitrate)/8*4
	if free < need {
		return fmt.Errorf("%s: %d bytes free, waiting for %d: %w", dir, free, need, syscall.ENOSPC)
	}
	return nil
}

// checkFile makes sure the path still names the open file. If it was
// removed, the bytes written so far are copied from the open descriptor
// back to the path, recreating its folder, and writing goes on there; if
// another file took its place, to the next file's name. Until that works
// (a full or read-only disk) the sink writes on to the open, unlinked
// file, reporting the error, and tries again at the next check: the
// descriptor holds the data as long as it stays open.
func (s *Sink) checkFile(now time.Time) {
	w := s.w
	fi, err := os.Stat(w.path)
	if err == nil && os.SameFile(fi, s.fi) {
		return
	}
	target, why := w.path, "removed"
	if err == nil {
		target, why = s.fileName(s.n+1), "replaced by another file"
	}
	if s.lost == nil {
		s.lost = fmt.Errorf("recording %s: the file was %s while it was being written; restoring its %d bytes from the open file", w.path, why, w.size)
		s.log.Warn("recording's file vanished", "err", s.lost)
		s.rep.Report(output.SinkState{Running: false, Err: s.lost})
	}
	if err := s.restore(target); err != nil {
		err = fmt.Errorf("recording %s: the file was %s while it was being written, and putting it back failed (the recording goes on into the open file; retrying every second): %w", w.path, why, err)
		if errText(err) != errText(s.lost) {
			s.lost = err
			s.log.Error("recording not restored yet", "err", err)
			s.rep.Report(output.SinkState{Running: true, Err: err})
		}
		return
	}
	s.lost = nil
	if target != w.path {
		s.n++
		w.path = target
		s.mu.Lock()
		s.files = append(s.files, target)
		s.mu.Unlock()
		if s.onFile != nil {
			s.onFile(target)
		}
	}
	s.log.Warn("recording restored: the file was put back whole from the open descriptor and recording continues in it",
		"file", target, "restored_bytes", w.size)
	s.rep.Report(output.SinkState{Running: true})
}

// restore writes the open file's bytes to a new file at path and makes
// that the file written to.
func (s *Sink) restore(path string) error {
	w := s.w
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("recreating the folder: %w", err)
	}
	nf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("recreating the file: %w", err)
	}
	if _, err := io.Copy(nf, io.NewSectionReader(w.f, 0, w.size)); err != nil {
		nf.Close()
		os.Remove(path)
		return fmt.Errorf("copying %d bytes back: %w", w.size, err)
	}
	fi, err := nf.Stat()
	if err != nil {
		nf.Close()
		os.Remove(path)
		return err
	}
	w.f.Close()
	w.f, s.fi = nf, fi
	return nil
}

// closeFile ends the current file: the trailer when asked, then the file
// cut back to its last whole fragment if a write failed.
func (s *Sink) closeFile(trailer bool) error {
	w := s.w
	if w == nil {
		return nil
	}
	s.w = nil
	var errs []error
	if trailer && w.err == nil {
		err := s.fc.WriteTrailer()
		if err == nil {
			s.pb.Flush()
		}
		if err != nil || w.err != nil {
			errs = append(errs, fmt.Errorf("writing trailer (the file plays without its index): %w", w.errOr(err)))
		} else {
			s.written.Add(s.pending)
			s.pending = 0
			w.good = w.size
		}
	}
	s.freeMuxer()
	// After a failed write the file may hold more than the writes
	// reported (tmpfs keeps pages a failed write filled in part).
	if w.size > w.good || w.err != nil {
		if err := w.f.Truncate(w.good); err != nil {
			errs = append(errs, fmt.Errorf("cutting back to the last whole fragment: %w", err))
		}
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing file: %w", err))
	}
	return errors.Join(errs...)
}

// Close implements Sink: it writes the trailer and closes the file.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.w != nil {
		// A removed file is put back before the descriptor goes.
		s.checkFile(s.now())
		lost := s.lost
		path := s.w.path
		if lost != nil {
			s.closeFile(false)
			s.freeMuxer()
			err := fmt.Errorf("muxer: recording lost: its file was removed and could not be put back before the end: %w", lost)
			s.log.Error("recording lost", "err", err)
			return err
		}
		if err := s.closeFile(true); err != nil {
			// The fragments are all there; only the index is missing.
			err = fmt.Errorf("muxer: closing recording %s: %w", path, err)
			s.log.Warn("recording closed without its index", "err", err)
			s.rep.Report(output.SinkState{Running: false, Err: err})
			return nil
		}
	}
	s.freeMuxer()
	s.log.Info("recording closed", "files", len(s.Files()))
	return nil
}

// fileWriter is the AVIO context's file: FFmpeg writes and seeks through it.
type fileWriter struct {
	f         *os.File
	path      string
	pos, size int64
	good      int64 // the end of the last whole fragment
	err       error // the first write error; every later write fails
}

func (w *fileWriter) write(b []byte) (int, error) {
	if w.err != nil {
		return 0, astiav.ErrEio
	}
	n, err := w.f.WriteAt(b, w.pos)
	w.pos += int64(n)
	w.size = max(w.size, w.pos)
	if err != nil {
		w.err = err
		return 0, astiav.ErrEio
	}
	return n, nil
}

// AVIO's seek extensions: AVSEEK_SIZE asks for the size, AVSEEK_FORCE is a
// hint.
const (
	avseekSize  = 0x10000
	avseekForce = 0x20000
)

func (w *fileWriter) seek(off int64, whence int) (int64, error) {
	switch whence &^ avseekForce {
	case avseekSize:
		return w.size, nil
	case io.SeekStart:
	case io.SeekCurrent:
		off += w.pos
	case io.SeekEnd:
		off += w.size
	default:
		return 0, astiav.ErrEio
	}
	if off < 0 {
		return 0, astiav.ErrEio
	}
	w.pos = off
	return off, nil
}

// writeError says what became of the recording after a failed write.
func writeError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err // the path is said already
	}
	return fmt.Errorf("recording %s: %w (the file keeps what came before; the recording resumes in a new file when there is room)", path, err)
}

// errOr is the file's own error, which says more than FFmpeg's, else err.
func (w *fileWriter) errOr(err error) error {
	if w.err != nil {
		return w.err
	}
	return err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
