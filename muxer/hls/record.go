package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// PlaylistName is the recording's playlist inside RecordOptions.Dir.
const PlaylistName = "index.m3u8"

// RecordOptions configures a Recorder.
type RecordOptions struct {
	Dir             string        // created if missing; gets index.m3u8 and seg00000.ts, ...
	SegmentDuration time.Duration // the encoder's GOP; 2 s if zero
	Logger          *slog.Logger
}

// Recorder writes the HLS recording with FFmpeg's hls muxer: MPEG-TS
// segments and an EVENT playlist that Close turns into VOD.
type Recorder struct {
	opts RecordOptions
	log  *slog.Logger
	rep  output.Reporter
	info output.StreamInfo

	dir     string // absolute
	fc      *astiav.FormatContext
	out     *avmux.Output
	started bool // the first video keyframe has been written
	header  bool // avformat_write_header succeeded
	err     error
	closed  bool

	// Without video (audioOnly), FFmpeg cuts a segment at the first packet
	// past each multiple of hls_time; cutAt is the next such time, where
	// the checks that a keyframe triggers with video run instead.
	audioOnly bool
	cutAt     time.Duration
	cutEvery  time.Duration

	// FFmpeg 5.1's hls muxer ignores write errors: it buffers a segment in
	// memory, writes it out when the next keyframe cuts it, and on a full
	// disk leaves a truncated segment and replaces the playlist with an
	// empty one, reporting nothing. So the Recorder checks free space
	// before every cut and reads back every playlist FFmpeg writes.
	segBytes int64       // payload handed to FFmpeg since the last keyframe
	good     []byte      // the last playlist that checked out
	goodURIs int         // its number of segments
	goodStat os.FileInfo // and the file it was read from
	nextSeg  int         // one past the highest segment number listed

	// A failure suspends the recording rather than ending it: FFmpeg's
	// muxer is dropped, packets are dropped, and once a second (now)
	// the folder and the disk are checked; when they are fine again a
	// new muxer continues the playlist at the next keyframe.
	now       func() time.Time
	suspended error
	ready     bool
	nextCheck time.Time
	dropped   int64
	resumes   int
}

// minFree is what the Recorder leaves free on the disk on top of the segment
// it is about to write: room for the playlist, the file system and the other
// outputs writing to the same disk.
const minFree = 256 << 10

// NewRecorder returns a Recorder; it starts on Open.
func NewRecorder(opts RecordOptions) *Recorder {
	if opts.SegmentDuration <= 0 {
		opts.SegmentDuration = defaultSegmentDuration
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		opts: opts,
		log:  opts.Logger.With("sink", "hls-record"),
		rep:  nopReporter{},
		now:  time.Now,
	}
}

// Path returns the playlist's path, Dir/index.m3u8.
func (r *Recorder) Path() string {
	return filepath.Join(r.opts.Dir, PlaylistName)
}

// Open implements output.Sink.
func (r *Recorder) Open(ctx context.Context, info output.StreamInfo, rep output.Reporter) error {
	if rep != nil {
		r.rep = rep
	}
	if err := r.open(ctx, info); err != nil {
		return r.fail(fmt.Errorf("hls recording: open: %w", err))
	}
	r.rep.Report(output.SinkState{Running: true})
	return nil
}

func (r *Recorder) open(ctx context.Context, info output.StreamInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.opts.Dir == "" {
		return errors.New("no directory")
	}
	if _, err := checkInfo(&info); err != nil {
		return err
	}
	r.audioOnly = !info.HasVideo()
	r.info = info
	dir, err := filepath.Abs(r.opts.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r.dir = dir
	if err := r.checkSpace(r.twoSegments()); err != nil {
		return err
	}
	return r.startMuxer(false)
}

// twoSegments estimates two segments' payload at the configured bitrates.
func (r *Recorder) twoSegments() int64 {
	return int64(r.info.Video.Bitrate+r.info.Audio.Bitrate) / 8 * int64(2*r.opts.SegmentDuration) / int64(time.Second)
}

// startMuxer opens FFmpeg's hls muxer on the folder. With appendList it
// continues the playlist there (FFmpeg's append_list: the old segments
// stay listed, the numbering goes on, and a discontinuity marks the
// join); without, a playlist starts from nothing, its segments numbered
// from nextSeg so that no name of an earlier segment (perhaps uploaded
// already) is used again.
func (r *Recorder) startMuxer(appendList bool) error {
	dir := r.dir
	var err error
	// An absolute path never looks like "proto:..." to FFmpeg's URL parser.
	r.fc, err = astiav.AllocOutputFormatContext(nil, "hls", filepath.Join(dir, PlaylistName))
	if err != nil {
		return fmt.Errorf("allocate hls muxer: %w", err)
	}
	if r.out, err = avmux.New(r.fc, r.info); err != nil {
		return err
	}

	opts := astiav.NewDictionary()
	defer opts.Free()
	flags := "temp_file+independent_segments+program_date_time"
	if appendList {
		flags += "+append_list"
	}
	seg := r.opts.SegmentDuration
	r.cutEvery = roundMillis(minSegmentDuration(seg))
	if r.audioOnly {
		// No keyframe to wait for: cut at the segment duration itself.
		r.cutEvery = roundMillis(seg)
	}
	for _, kv := range [][2]string{
		// Cut at every keyframe of the 2 s GOP; see minSegmentDuration.
		// (Audio only: every 2 s.)
		{"hls_time", strconv.FormatFloat(r.cutEvery.Seconds(), 'f', 3, 64)},
		{"hls_list_size", "0"}, // keep every segment: it is a recording
		{"hls_playlist_type", "event"},
		{"hls_segment_type", "mpegts"},
		// temp_file: segments are written as .tmp and renamed when complete,
		// so the playlist never names a partial one. (The playlist itself
		// always goes through index.m3u8.tmp and a rename for an EVENT
		// playlist.) independent_segments: each starts with an IDR.
		// program_date_time: wall-clock anchors for each segment.
		{"hls_flags", flags},
		{"start_number", strconv.Itoa(r.nextSeg)},
		// '%' is the sequence-number template; escape any in the directory.
		{"hls_segment_filename", filepath.Join(strings.ReplaceAll(dir, "%", "%%"), "seg%05d.ts")},
	} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			return fmt.Errorf("option %s: %w", kv[0], err)
		}
	}
	if !appendList {
		// append_list numbers on from the playlist it reads.
		if err := opts.Set("start_number", strconv.Itoa(r.nextSeg), 0); err != nil {
			return fmt.Errorf("option start_number: %w", err)
		}
	}
	if err := r.fc.WriteHeader(opts); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	r.header = true
	r.started = false
	r.segBytes = 0
	r.nextCheck = r.now().Add(time.Second)
	return nil
}

// freeMuxer drops FFmpeg's muxer without its trailer, and the segment it
// held in memory with it.
func (r *Recorder) freeMuxer() {
	if r.out != nil {
		r.out.Free()
		r.out = nil
	}
	if r.fc != nil {
		r.fc.Free()
		r.fc = nil
	}
	r.removeTemps()
}

// removeTemps deletes segments FFmpeg never finished: no playlist lists
// them.
func (r *Recorder) removeTemps() {
	if r.dir == "" {
		return
	}
	tmps, _ := filepath.Glob(filepath.Join(r.dir, "seg*.ts.tmp"))
	for _, f := range tmps {
		os.Remove(f)
	}
}

// suspend stops writing after err: the muxer goes (the playlist on disk is
// the last good one), and packets are dropped until whileSuspended finds
// the folder and the disk fine again. Write goes on returning nil, so the
// fan-out keeps the output.
func (r *Recorder) suspend(err error) error {
	r.freeMuxer()
	r.suspended, r.ready, r.dropped = err, false, 0
	r.nextCheck = r.now().Add(time.Second)
	r.log.Error("hls recording suspended: the playlist keeps every segment finished before; the recording resumes when the folder is writable and has room", "err", err)
	r.rep.Report(output.SinkState{Err: err})
	return nil
}

// whileSuspended drops p unless the recording can start again with it.
func (r *Recorder) whileSuspended(p *output.Packet) error {
	if now := r.now(); !r.ready && !now.Before(r.nextCheck) {
		r.nextCheck = now.Add(time.Second)
		if err := r.canResume(); err != nil {
			if err.Error() != r.suspended.Error() {
				r.log.Warn("hls recording still suspended", "err", err)
				r.suspended = err
				r.rep.Report(output.SinkState{Err: err})
			}
		} else {
			r.ready = true
		}
	}
	start := p.Kind == output.Video && p.Key || r.audioOnly && p.Kind == output.Audio
	if !r.ready || !start {
		r.dropped++
		return nil
	}
	r.ready = false
	// The playlist may be gone with its folder: then the recording starts
	// a new one (the segments it listed are gone too).
	_, err := os.Stat(r.Path())
	fresh := errors.Is(err, os.ErrNotExist)
	if fresh {
		r.good, r.goodURIs, r.goodStat = nil, 0, nil
	}
	if err := r.startMuxer(!fresh); err != nil {
		r.freeMuxer()
		err = fmt.Errorf("hls recording: resuming: %w", err)
		r.suspended = err
		r.log.Warn("hls recording could not resume", "err", err)
		r.rep.Report(output.SinkState{Err: err})
		return nil
	}
	r.resumes++
	how := "the playlist continues after a discontinuity"
	if fresh {
		how = "a new playlist, since the old one was gone"
	}
	r.log.Info("hls recording resumed", "how", how, "at", p.Time(&r.info), "dropped_packets", r.dropped, "first_segment", r.nextSeg)
	r.suspended, r.dropped = nil, 0
	r.rep.Report(output.SinkState{Running: true})
	return r.Write(context.Background(), p)
}

// canResume checks that the folder exists (making it again if it was
// removed), takes a new file (not read-only) and has room for two segments.
func (r *Recorder) canResume() error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("hls recording: %w", err)
	}
	// One name, so that the error says the same every second.
	probe := filepath.Join(r.dir, ".write-check")
	f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("hls recording: %w", err)
	}
	f.Close()
	os.Remove(probe)
	if err := r.checkSpace(r.twoSegments()); err != nil {
		return fmt.Errorf("hls recording: %w", err)
	}
	return nil
}

// Write implements output.Sink. A failure (a full disk, a vanished or
// read-only folder) suspends the recording: Write drops packets until the
// recording can resume, and returns nil throughout.
func (r *Recorder) Write(ctx context.Context, p *output.Packet) error {
	if r.err != nil {
		return r.err
	}
	if r.closed || !r.header {
		return errors.New("hls recording: write before open or after close")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.fc == nil {
		return r.whileSuspended(p)
	}
	if now := r.now(); !now.Before(r.nextCheck) {
		// A folder removed between cuts (rm -rf of the job's folder):
		// FFmpeg would only notice at the next cut.
		r.nextCheck = now.Add(time.Second)
		if err := r.checkFolder(); err != nil {
			return r.suspend(fmt.Errorf("hls recording: %w", err))
		}
	}

	switch p.Kind {
	case output.Video:
		// The first segment must start with a keyframe, and audio before it
		// would only give the segment a head with no picture.
		if !r.started {
			if !p.Key {
				return nil
			}
			r.started = true
		}
		if p.Key {
			// This keyframe makes FFmpeg write out the segment before it.
			if err := r.checkSpace(r.segBytes); err != nil {
				return r.suspend(fmt.Errorf("hls recording: %w", err))
			}
			r.segBytes = 0
		}
	case output.Audio:
		if r.audioOnly {
			return r.writeAudioOnly(p)
		}
		if !r.started {
			return nil
		}
	default:
		return nil
	}

	if err := r.out.Write(p); err != nil {
		return r.suspend(fmt.Errorf("hls recording: %w", err))
	}
	r.segBytes += int64(len(p.Data))
	if p.Kind == output.Video {
		if err := r.checkPlaylist(); err != nil {
			return r.suspend(fmt.Errorf("hls recording: %w", err))
		}
	}
	return nil
}

// writeAudioOnly writes an audio packet of a stream without video: every
// one starts a segment as well as any, and the space and playlist checks
// run where FFmpeg cuts, at the first packet past each multiple of
// hls_time from the first.
func (r *Recorder) writeAudioOnly(p *output.Packet) error {
	t := p.Time(&r.info)
	if !r.started {
		r.started = true
		r.cutAt = t + r.cutEvery
	}
	cut := t >= r.cutAt
	if cut {
		if err := r.checkSpace(r.segBytes); err != nil {
			return r.suspend(fmt.Errorf("hls recording: %w", err))
		}
		r.segBytes = 0
		for r.cutAt <= t {
			r.cutAt += r.cutEvery
		}
	}
	if err := r.out.Write(p); err != nil {
		return r.suspend(fmt.Errorf("hls recording: %w", err))
	}
	r.segBytes += int64(len(p.Data))
	if cut {
		if err := r.checkPlaylist(); err != nil {
			return r.suspend(fmt.Errorf("hls recording: %w", err))
		}
	}
	return nil
}

// roundMillis rounds d to the millisecond, as hls_time is given to FFmpeg.
func roundMillis(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// checkSpace fails with ENOSPC unless the disk has room for a segment of
// about segBytes of payload (MPEG-TS adds up to ~25 % for small audio
// frames), two playlists and minFree.
func (r *Recorder) checkSpace(segBytes int64) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(r.dir, &fs); err != nil {
		return fmt.Errorf("statfs %s: %w", r.dir, err)
	}
	free := int64(fs.Bavail) * int64(fs.Bsize) //nolint:unconvert // field types differ by platform
	need := segBytes + segBytes/4 + 2*int64(len(r.good)) + minFree
	if free < need {
		return fmt.Errorf("%s: %d bytes free, the next segment needs %d: %w", r.dir, free, need, syscall.ENOSPC)
	}
	return nil
}

// checkFolder fails if the folder was removed (or replaced) under the
// recording, or its playlist went away.
func (r *Recorder) checkFolder() error {
	if _, err := os.Stat(r.dir); err != nil {
		return fmt.Errorf("the folder was removed: %w", err)
	}
	if r.good != nil {
		if _, err := os.Stat(r.Path()); err != nil {
			return fmt.Errorf("the playlist was removed: %w", err)
		}
	}
	return nil
}

// checkPlaylist reads back the playlist when FFmpeg has replaced it and
// checks that it still lists every segment, each of them complete on disk.
// A bad one is replaced by the last good one, and the recording stops.
func (r *Recorder) checkPlaylist() error {
	fi, err := os.Stat(r.Path())
	if errors.Is(err, os.ErrNotExist) && r.good == nil {
		return nil // no segment finished yet
	}
	if err != nil {
		return fmt.Errorf("playlist: %w", err)
	}
	if r.goodStat != nil && os.SameFile(fi, r.goodStat) && fi.Size() == r.goodStat.Size() &&
		fi.ModTime().Equal(r.goodStat.ModTime()) {
		return nil
	}
	b, err := os.ReadFile(r.Path())
	if err == nil {
		err = r.validPlaylist(b)
	}
	if err != nil {
		err = fmt.Errorf("playlist written by FFmpeg is damaged: %w", err)
		if r.good != nil {
			if rerr := writeFileAtomic(r.Path(), r.good); rerr != nil {
				err = fmt.Errorf("%w; restoring the last good one: %v", err, rerr)
			}
		}
		return err
	}
	r.good, r.goodStat = b, fi
	return nil
}

// validPlaylist checks a playlist FFmpeg wrote against the last good one.
func (r *Recorder) validPlaylist(b []byte) error {
	pl := string(b)
	if !strings.HasPrefix(pl, "#EXTM3U") {
		return errors.New("no #EXTM3U header")
	}
	var uris []string
	for _, ln := range strings.Split(pl, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" && !strings.HasPrefix(ln, "#") {
			uris = append(uris, ln)
		}
	}
	if len(uris) < r.goodURIs {
		return fmt.Errorf("%d segments listed, %d before", len(uris), r.goodURIs)
	}
	for _, u := range uris {
		var n int
		if _, err := fmt.Sscanf(u, "seg%d.ts", &n); err == nil && n >= r.nextSeg {
			r.nextSeg = n + 1
		}
	}
	for _, u := range uris[r.goodURIs:] {
		fi, err := os.Stat(filepath.Join(r.dir, filepath.FromSlash(u)))
		if err != nil {
			return err
		}
		// A complete MPEG-TS segment is whole 188-byte packets.
		if fi.Size() == 0 || fi.Size()%188 != 0 {
			return fmt.Errorf("segment %s is truncated (%d bytes)", u, fi.Size())
		}
	}
	r.goodURIs = len(uris)
	return nil
}

// fail records the sink's first error, reports it and returns it.
func (r *Recorder) fail(err error) error {
	if r.err == nil {
		r.err = err
		r.log.Error("hls recording stopped", "err", err)
		r.rep.Report(output.SinkState{Err: err})
	}
	return r.err
}

// Close implements output.Sink: FFmpeg writes the last segment and the
// playlist with #EXT-X-ENDLIST, then the playlist is marked VOD. A
// recording suspended at the end finalizes the playlist it had; the error
// that suspended it stays its last report.
func (r *Recorder) Close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	var errs []error
	suspended := r.header && r.fc == nil
	switch {
	case suspended:
	case r.header && !r.started && r.resumes == 0:
		// Nothing was recorded. FFmpeg's trailer would list an empty
		// segment; an empty VOD playlist says it better.
		if err := writeFileAtomic(r.Path(), []byte(emptyPlaylist)); err != nil {
			errs = append(errs, fmt.Errorf("hls recording: %w", err))
		}
	case r.header && !r.started:
		// Resumed, but stopped before a keyframe came: the playlist on
		// disk is the last good one.
	case r.header:
		// av_write_trailer flushes the interleaving queue, writes the last
		// segment and rewrites the playlist with #EXT-X-ENDLIST (still typed
		// EVENT in FFmpeg 5.1). On a full disk that would damage both, so
		// the last (partial) segment is dropped instead.
		if err := r.checkSpace(r.segBytes); err != nil {
			errs = append(errs, fmt.Errorf("hls recording: last segment dropped: %w", err))
		} else if err := r.fc.WriteTrailer(); err != nil {
			errs = append(errs, fmt.Errorf("hls recording: write trailer: %w", err))
		} else if err := r.checkPlaylist(); err != nil {
			errs = append(errs, fmt.Errorf("hls recording: %w", err))
		}
	}
	r.freeMuxer()
	if r.header && (r.started || r.resumes > 0 || suspended) {
		// A playlist the folder lost with its segments is not made up.
		if _, err := os.Stat(r.Path()); err == nil {
			if err := FinalizePlaylist(r.Path()); err != nil {
				errs = append(errs, fmt.Errorf("hls recording: %w", err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil && r.err == nil {
		r.err = err
		r.log.Error("hls recording: close", "err", err)
	}
	switch {
	case r.err != nil:
		r.rep.Report(output.SinkState{Err: r.err})
	case suspended:
		r.rep.Report(output.SinkState{Err: r.suspended})
	default:
		r.rep.Report(output.SinkState{})
	}
	return r.err
}

// emptyPlaylist is the VOD playlist of a recording that got no media.
const emptyPlaylist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n"

// FinalizePlaylist turns an HLS playlist written by a Recorder into a
// finished VOD playlist: #EXT-X-PLAYLIST-TYPE:VOD, #EXT-X-ENDLIST, and no
// entry for a segment file that is missing or empty (one FFmpeg could not
// finish).
// It is what Close does; call it on the playlist a crashed job left behind.
// The file is replaced atomically, so a crash in here changes nothing.
func FinalizePlaylist(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("finalize playlist: %w", err)
	}
	out, err := finalizePlaylist(string(b), func(uri string) bool {
		fi, err := os.Stat(filepath.Join(filepath.Dir(path), filepath.FromSlash(uri)))
		return err == nil && fi.Size() > 0
	})
	if err != nil {
		return fmt.Errorf("finalize playlist %s: %w", path, err)
	}
	if err := writeFileAtomic(path, []byte(out)); err != nil {
		return fmt.Errorf("finalize playlist: %w", err)
	}
	return nil
}

// FinalizePlaylistText is FinalizePlaylist on a playlist's text, for one
// kept elsewhere (a bucket): exists tells whether a segment URI is there.
func FinalizePlaylistText(in string, exists func(uri string) bool) (string, error) {
	return finalizePlaylist(in, exists)
}

// finalizePlaylist rewrites playlist text; exists tells whether a segment
// URI is present.
func finalizePlaylist(in string, exists func(uri string) bool) (string, error) {
	lines := strings.Split(strings.ReplaceAll(in, "\r\n", "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "#EXTM3U" {
		return "", errors.New("not an M3U8 playlist")
	}
	var out, pending []string // pending: the tags of the next segment
	typed := false
	for _, ln := range lines {
		ln = strings.TrimSpace(ln)
		switch {
		case ln == "":
		case ln == "#EXT-X-ENDLIST":
		case strings.HasPrefix(ln, "#EXT-X-PLAYLIST-TYPE:"):
			out = append(out, "#EXT-X-PLAYLIST-TYPE:VOD")
			typed = true
		case strings.HasPrefix(ln, "#EXTINF:"), strings.HasPrefix(ln, "#EXT-X-PROGRAM-DATE-TIME:"),
			strings.HasPrefix(ln, "#EXT-X-DISCONTINUITY"), strings.HasPrefix(ln, "#EXT-X-BYTERANGE:"):
			pending = append(pending, ln)
		case strings.HasPrefix(ln, "#"):
			if len(pending) > 0 {
				pending = append(pending, ln)
			} else {
				out = append(out, ln)
			}
		default: // a segment URI
			if exists(ln) {
				out = append(out, pending...)
				out = append(out, ln)
			}
			pending = nil
		}
	}
	if !typed {
		// Right after #EXTM3U and its version, where the type belongs.
		out = append(out[:1], append([]string{"#EXT-X-PLAYLIST-TYPE:VOD"}, out[1:]...)...)
	}
	out = append(out, "#EXT-X-ENDLIST")
	return strings.Join(out, "\n") + "\n", nil
}

// writeFileAtomic replaces path with data through a synced temp file and a
// rename, then syncs the directory so the rename survives a power cut.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() //nolint:errcheck // best effort: the rename is done either way
		d.Close()
	}
	return nil
}
