package worker

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Output names in the fan-out.
const (
	outRecording = "recording"
	outHLS       = "hls"
	outHLSRecord = "hlsRecording"
	outRTMP      = "rtmp:" // + a serial number: a URL holds its stream key
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
	add := func(name string, s output.Sink) error {
		if err := g.fan.Add(g.outCtx, name, s, queueOptions()); err != nil {
			return errorf(CodeInternal, "output %s: %w", name, err)
		}
		return nil
	}
	if cfg.Record {
		if err := add(outRecording, mp4.New(mp4.Options{Path: filepath.Join(opts.Out, jobstate.PartFile(recordingFile(cfg), opts.Part)), Logger: g.log})); err != nil {
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

// newRTMPSink makes the sink of one RTMP URL; its errors never show the key.
func newRTMPSink(cfg config.Job, opts Options, url string) (output.Sink, error) {
	s, err := opts.Sinks.RTMP(url, time.Duration(cfg.RTMPConnectTimeout), time.Duration(cfg.RTMPRetryWindow))
	if err != nil {
		return nil, errorf(CodeInvalidConfig, "rtmpUrls: %s: %w", config.MaskRTMPURL(url), err)
	}
	return s, nil
}
