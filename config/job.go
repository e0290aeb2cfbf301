package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/roomcast/roomcast/compositor/layout"
)

// Limits of the job contract and of roomcast.
const (
	MaxRTMPURLs  = 3
	MinSide      = 160
	MaxLongSide  = 3840
	MaxShortSide = 2160
	MaxFPS       = 60
)

// Job is one recording/streaming job. JSON and YAML field names follow the
// job contract.
type Job struct {
	// ID names the job; generated when empty.
	ID         string     `json:"id,omitempty" yaml:"id,omitempty"`
	MeetingURL string     `json:"meetingUrl" yaml:"meetingUrl"`
	RTMPURLs   []string   `json:"rtmpUrls,omitempty" yaml:"rtmpUrls,omitempty"`
	Record     bool       `json:"record" yaml:"record"`
	HLS        bool       `json:"hls" yaml:"hls"`
	HLSRecord  bool       `json:"hlsRecord" yaml:"hlsRecord"`
	Resolution Resolution `json:"resolution" yaml:"resolution"`

	FPS          int     `json:"fps,omitempty" yaml:"fps,omitempty"`
	Layout       Layout  `json:"layout,omitempty" yaml:"layout,omitempty"`
	VideoBitrate Bitrate `json:"videoBitrate,omitempty" yaml:"videoBitrate,omitempty"`
	AudioBitrate Bitrate `json:"audioBitrate,omitempty" yaml:"audioBitrate,omitempty"`
	// MaxDuration ends the job by itself (the contract's maximum duration;
	// the CLI's --duration sets it).
	MaxDuration Duration `json:"maxDuration,omitempty" yaml:"maxDuration,omitempty"`
	// EmptyRoomTimeout ends the job once the room has had no peers this long.
	EmptyRoomTimeout Duration `json:"emptyRoomTimeout,omitempty" yaml:"emptyRoomTimeout,omitempty"`
	// RTMPConnectTimeout bounds each RTMP connect, up to the server's
	// confirmation of the publish.
	RTMPConnectTimeout Duration `json:"rtmpConnectTimeout,omitempty" yaml:"rtmpConnectTimeout,omitempty"`
	// RTMPRetryWindow is how long a dropped RTMP URL is retried before it
	// counts as failed.
	RTMPRetryWindow Duration `json:"rtmpRetryWindow,omitempty" yaml:"rtmpRetryWindow,omitempty"`
	// Thumbnails, when set, writes a JPEG of the composite this often to
	// thumbnails/ (roomcast's extension).
	Thumbnails Duration `json:"thumbnails,omitempty" yaml:"thumbnails,omitempty"`
	// Tracks also records each track, as the room sent it, to tracks/,
	// with the manifest tracks/room.yaml that re-composes the meeting
	// (roomcast's extension).
	Tracks bool `json:"tracks,omitempty" yaml:"tracks,omitempty"`
	// AudioOnly mixes the room's audio alone: no video is decoded,
	// composed or encoded, the recording is recording.m4a and every
	// stream carries one AAC track (roomcast's extension). resolution,
	// fps, layout and videoBitrate do not apply.
	AudioOnly bool `json:"audioOnly,omitempty" yaml:"audioOnly,omitempty"`
	// Upload, when set, uploads the recordings to S3-compatible storage
	// while the job runs (roomcast's extension; upload.go).
	Upload *Upload `json:"upload,omitempty" yaml:"upload,omitempty"`
}

// Defaults of the contract.
const (
	DefaultWidth            = 1280
	DefaultHeight           = 720
	DefaultFPS              = 30
	DefaultLayout           = "grid"
	DefaultAudioBitrate     = 128_000
	DefaultMaxDuration      = 4 * time.Hour
	DefaultEmptyRoomTimeout = 5 * time.Minute
	DefaultRTMPConnect      = 5 * time.Second
	DefaultRTMPRetryWindow  = 60 * time.Second
)

// Layouts returns the layout presets.
func Layouts() []string { return layout.PresetNames() }

// ApplyDefaults fills what is unset.
func (j *Job) ApplyDefaults() {
	if j.Resolution.Width == 0 && j.Resolution.Height == 0 {
		j.Resolution = Resolution{DefaultWidth, DefaultHeight}
	}
	if j.FPS == 0 {
		j.FPS = DefaultFPS
	}
	if j.Layout == "" {
		j.Layout = DefaultLayout
	}
	if j.VideoBitrate == 0 {
		j.VideoBitrate = DefaultVideoBitrate(j.Resolution, j.FPS)
	}
	if j.AudioBitrate == 0 {
		j.AudioBitrate = DefaultAudioBitrate
	}
	if j.MaxDuration == 0 {
		j.MaxDuration = Duration(DefaultMaxDuration)
	}
	if j.EmptyRoomTimeout == 0 {
		j.EmptyRoomTimeout = Duration(DefaultEmptyRoomTimeout)
	}
	if j.RTMPConnectTimeout == 0 {
		j.RTMPConnectTimeout = Duration(DefaultRTMPConnect)
	}
	if j.RTMPRetryWindow == 0 {
		j.RTMPRetryWindow = Duration(DefaultRTMPRetryWindow)
	}
}

// DefaultVideoBitrate scales with pixels per second: 2.5 Mb/s at 720p30,
// 5.6 Mb/s at 1080p30, within 300 kb/s..12 Mb/s.
func DefaultVideoBitrate(r Resolution, fps int) Bitrate {
	if fps <= 0 {
		fps = DefaultFPS
	}
	b := int64(r.Width) * int64(r.Height) * int64(fps) * 9 / 100
	b = (b + 50_000) / 100_000 * 100_000
	return Bitrate(min(max(b, 300_000), 12_000_000))
}

// Validate checks the job against the contract and roomcast's limits. It
// reports every problem at once.
func (j *Job) Validate() error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }

	if err := checkID(j.ID); err != nil {
		add("id: %v", err)
	}
	if _, _, err := ParseMeetingURL(j.MeetingURL); err != nil {
		add("%v", err)
	}
	if len(j.RTMPURLs) > MaxRTMPURLs {
		add("rtmpUrls: %d URLs given, the limit is %d", len(j.RTMPURLs), MaxRTMPURLs)
	}
	seen := map[string]int{}
	for i, u := range j.RTMPURLs {
		if err := ValidateRTMPURL(u); err != nil {
			add("rtmpUrls[%d]: %v", i, err)
		}
		if k, ok := seen[u]; ok {
			add("rtmpUrls[%d]: the same URL as rtmpUrls[%d] (%s)", i, k, MaskRTMPURL(u))
		}
		seen[u] = i
	}
	if len(j.RTMPURLs) == 0 && !j.Record && !j.HLS && !j.HLSRecord && !j.Tracks {
		add("nothing to do: set record, give rtmpUrls (--rtmp), or set hls, hlsRecord or tracks")
	}
	if err := j.Resolution.Validate(); err != nil {
		add("resolution: %v", err)
	}
	if j.FPS < 1 || j.FPS > MaxFPS {
		add("fps: %d is out of range (allowed: 1..%d)", j.FPS, MaxFPS)
	}
	if _, err := j.Layout.Resolve(); err != nil {
		if layout.IsUnknown(err) {
			add("layout: %q is unknown (allowed: %s, or a layout document)", string(j.Layout), strings.Join(Layouts(), ", "))
		} else {
			add("%v", err)
		}
	}
	if j.VideoBitrate < 100_000 || j.VideoBitrate > 50_000_000 {
		add("videoBitrate: %s is out of range (allowed: 100k..50M bits per second)", j.VideoBitrate)
	}
	if j.AudioBitrate < 32_000 || j.AudioBitrate > 512_000 {
		add("audioBitrate: %s is out of range (allowed: 32k..512k bits per second)", j.AudioBitrate)
	}
	if j.MaxDuration < 0 {
		add("maxDuration: %s must not be negative", j.MaxDuration)
	}
	if j.EmptyRoomTimeout < 0 {
		add("emptyRoomTimeout: %s must not be negative", j.EmptyRoomTimeout)
	}
	if j.RTMPConnectTimeout < Duration(100*time.Millisecond) || j.RTMPConnectTimeout > Duration(time.Minute) {
		add("rtmpConnectTimeout: %s is out of range (allowed: 100ms..1m)", j.RTMPConnectTimeout)
	}
	if j.Thumbnails != 0 && (j.Thumbnails < Duration(time.Second) || j.Thumbnails > Duration(24*time.Hour)) {
		add("thumbnails: %s is out of range (allowed: 1s..24h, or unset for none)", j.Thumbnails)
	}
	if j.AudioOnly && j.Thumbnails != 0 {
		add("thumbnails: %s with audioOnly: an audio-only job has no picture to take thumbnails of (drop thumbnails or audioOnly)", j.Thumbnails)
	}
	if j.RTMPRetryWindow < 0 || j.RTMPRetryWindow > Duration(24*time.Hour) {
		add("rtmpRetryWindow: %s is out of range (allowed: 0..24h; 0 means the default, 60s)", j.RTMPRetryWindow)
	}
	if j.Upload != nil {
		j.Upload.validate(j, add)
	}
	if len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

// MaxIDLength bounds a job id.
const MaxIDLength = 64

// checkID keeps an id usable as it is used: as a folder name (out/ID), in
// URL paths (/hls/ID/) and as a NATS subject token in the service, where a
// '.' separates tokens; so [A-Za-z0-9_-]{1,64}, the service's job ids.
func checkID(id string) error {
	const allowed = "allowed: up to 64 letters, digits, '-' and '_'"
	if id == "" {
		return nil
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%q is not a job id (%s)", id, allowed)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%q is not a job id (%s)", id, allowed)
		}
	}
	return nil
}
