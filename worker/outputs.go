package worker

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/muxer/upload"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Output names in the fan-out.
const (
	outRecording = "recording"
	outHLS       = "hls"
	outHLSRecord = "hlsRecording"
	// outThumbnails names the thumbnails' upload (they are no fan-out
	// output).
	outThumbnails = "thumbnails"
	outRTMP       = "rtmp:" // + a serial number: a URL holds its stream key
)

// recordingFile is the archive's name in the job's folder: an audio-only
// job records an M4A.
func recordingFile(cfg config.Job) string {
	if cfg.AudioOnly {
		return "recording.m4a"
	}
	return "recording.mp4"
}

// rtmpName is the fan-out name of the n-th RTMP URL a job streams to.
func rtmpName(n int) string { return fmt.Sprintf("%s%d", outRTMP, n) }

// queueOptions bounds each output's queue: about 4 s of media, beyond which
// the fan-out drops whole GOPs for that output alone.
func queueOptions() muxer.QueueOptions { return muxer.QueueOptions{} }

// outputPaths are where the HLS outputs can be found, for the state; nil for
// an output the job does not have (or did not get to).
type outputPaths struct {
	hlsURL, hlsRecording *string
}

// addOutputs starts the outputs the job's config asks for.
func (g *graph) addOutputs(spec graphSpec) (outputPaths, error) {
	cfg, opts := spec.cfg, spec.opts
	var paths outputPaths
	g.startUpload(spec)
	add := func(name string, s output.Sink) error {
		if err := g.fan.Add(g.outCtx, name, s, queueOptions()); err != nil {
			return errorf(CodeInternal, "output %s: %w", name, err)
		}
		return nil
	}
	if cfg.Record {
		rel := jobstate.PartFile(recordingFile(cfg), opts.Part)
		g.rec = mp4.New(mp4.Options{
			Path:     filepath.Join(opts.Out, rel),
			FileName: func(n int) string { return filepath.Join(opts.Out, jobstate.ResumeFile(rel, n)) },
			OnFile:   g.recordingFileOpened(opts.Out, rel),
			Logger:   g.log,
		})
		if err := add(outRecording, g.rec); err != nil {
			return paths, err
		}
	}
	for i, u := range cfg.RTMPURLs {
		s, err := newRTMPSink(cfg, opts, u)
		if err != nil {
			return paths, err
		}
		if err := add(spec.rtmpNames[i], s); err != nil {
			return paths, err
		}
	}
	if cfg.HLS {
		s, h := opts.Sinks.HLSLive()
		prefix := "/hls/" + cfg.ID
		opts.HTTPMux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		u := opts.HTTPBase + prefix + "/index.m3u8"
		paths.hlsURL = &u
		if err := add(outHLS, s); err != nil {
			return paths, err
		}
	}
	if cfg.HLSRecord {
		hlsDir := jobstate.PartFile("hls", opts.Part)
		dir := filepath.Join(opts.Out, hlsDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return paths, errorf(CodeHLS, "hlsRecord: %w", err)
		}
		p := hlsDir + "/index.m3u8"
		paths.hlsRecording = &p
		if err := add(outHLSRecord, opts.Sinks.HLSRecording(dir)); err != nil {
			return paths, err
		}
	}
	return paths, nil
}

// recordingFileOpened returns the archive's OnFile: each file after the
// first (a recording that resumed after a write error, see mp4.Sink) gets
// an upload of its own, "recording.2" and so on, which uploadState folds
// into the recording's.
func (g *graph) recordingFileOpened(out, first string) func(path string) {
	return func(path string) {
		rel, err := filepath.Rel(out, path)
		if err != nil || rel == first || g.up == nil {
			return
		}
		g.recMu.Lock()
		name := fmt.Sprintf("%s.%d", outRecording, len(g.recUploads)+2)
		g.recUploads = append(g.recUploads, name)
		g.recMu.Unlock()
		g.up.Archive(name, rel)
	}
}

// recordingFiles are the archive's files so far, relative to the job's
// folder, the current one last; nil without a recording.
func (g *graph) recordingFiles(out string) []string {
	if g == nil || g.rec == nil {
		return nil
	}
	files := g.rec.Files()
	for i, f := range files {
		if rel, err := filepath.Rel(out, f); err == nil {
			files[i] = filepath.ToSlash(rel)
		}
	}
	return files
}

// newRTMPSink makes the sink of one RTMP URL; its errors never show the key.
func newRTMPSink(cfg config.Job, opts Options, url string) (output.Sink, error) {
	s, err := opts.Sinks.RTMP(url, time.Duration(cfg.RTMPConnectTimeout), time.Duration(cfg.RTMPRetryWindow))
	if err != nil {
		return nil, errorf(CodeInvalidConfig, "rtmpUrls: %s: %w", config.MaskRTMPURL(url), err)
	}
	return s, nil
}

// uploadFinishTimeout bounds completing and verifying the uploads once the
// job's outputs are finalized. Parts went up while the job ran, so what is
// left is normally the last part and a few requests; a bucket that stays
// unreachable this long leaves the local files in place (and the archive's
// multipart upload open for upload-recover), and the state says so.
const uploadFinishTimeout = 90 * time.Second

// startUpload starts the job's uploads, when its config has one. The
// uploader reads what the sinks write from their files: the archive as it
// grows, the HLS recording by its playlist, the thumbnails as they are
// written; so no output, and nothing on the media path, waits for it.
func (g *graph) startUpload(spec graphSpec) {
	u := spec.cfg.Upload
	if u == nil {
		return
	}
	target := func(t config.UploadTarget) upload.Target {
		bucket, prefix, _ := config.ParseS3URL(t.URL) // validated with the job
		return upload.Target{Bucket: bucket, Prefix: prefix, Endpoint: t.Endpoint, Region: t.Region, PathStyle: t.PathStyle}
	}
	opts := upload.Options{Dir: spec.opts.Out, Primary: target(u.UploadTarget), KeepLocal: u.KeepLocal, Logger: g.log, OnChange: spec.onUpload}
	if b := u.ResolvedBackup(); b != nil {
		t := target(*b)
		opts.Backup = &t
	}
	g.up = upload.New(opts)
	if spec.cfg.Record {
		g.up.Archive(outRecording, jobstate.PartFile(recordingFile(spec.cfg), spec.opts.Part))
	}
	if spec.cfg.HLSRecord {
		dir := jobstate.PartFile("hls", spec.opts.Part)
		g.up.Files(outHLSRecord, dir, dir+"/"+hlsPlaylist, dir+"/"+hlsPlaylist)
	}
	if spec.cfg.Thumbnails > 0 {
		dir := thumbnailsDir(spec.opts.Part)
		g.thumbUp = g.up.Files(outThumbnails, dir, dir+"/latest.jpg", "")
	}
}

// thumbnailsDir is the thumbnails' folder of a job's part: thumbnails, then
// thumbnails.part2, … (a fleet continues a job in a new part, which must
// not overwrite the first part's 000001.jpg, on disk or in the bucket).
func thumbnailsDir(part int) string { return jobstate.PartFile("thumbnails", part) }

// hlsPlaylist is the HLS recording's playlist in hls/ (hls.PlaylistName;
// the worker does not import the HLS package, which the SinkFactory
// provides).
const hlsPlaylist = "index.m3u8"

// thumbnailWritten queues a new thumbnail, and latest.jpg, for upload. It
// runs on the thumbnails' goroutine and never waits.
func (g *graph) thumbnailWritten(_ int, path string) {
	if g.thumbUp != nil {
		g.thumbUp.Put(path)
		g.thumbUp.Put(filepath.Join(filepath.Dir(path), "latest.jpg"))
	}
}

// closeUpload completes and verifies the uploads; see uploadFinishTimeout.
func (g *graph) closeUpload() {
	if g.up == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), uploadFinishTimeout)
	defer cancel()
	if err := g.up.Close(ctx); err != nil {
		g.log.Warn("uploads did not all complete; their local files are kept", "err", err)
	}
}

// uploadState is an output's upload in the contract's terms; nil when the
// output has none. The recording's covers all its files: running while
// any runs, verified when all are, the bytes of all, the first error, and
// the first file's location.
func (g *graph) uploadState(name string) *Upload {
	if g.up == nil {
		return nil
	}
	s, ok := g.up.State(name)
	if !ok {
		return nil
	}
	if name == outRecording {
		g.recMu.Lock()
		more := slices.Clone(g.recUploads)
		g.recMu.Unlock()
		for _, n := range more {
			m, ok := g.up.State(n)
			if !ok {
				continue
			}
			s.Running = s.Running || m.Running
			s.Verified = s.Verified && m.Verified
			s.Backup = s.Backup || m.Backup
			s.Bytes += m.Bytes
			if s.Err == nil {
				s.Err = m.Err
			}
		}
	}
	u := &Upload{Running: s.Running, Bytes: s.Bytes, Verified: s.Verified, Backup: s.Backup}
	if s.Location != "" {
		loc := s.Location
		u.Location = &loc
	}
	if s.Err != nil {
		u.Error = &Error{Code: CodeUpload, Message: s.Err.Error()}
	}
	return u
}
