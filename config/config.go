package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/roomcast/roomcast/muxer/rtmp"
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
	Layout       string  `json:"layout,omitempty" yaml:"layout,omitempty"`
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
}

// Worker is how this process runs jobs: not part of the job contract.
type Worker struct {
	Out      string // the job's output folder
	Fast     bool   // file rooms only: run as fast as the CPU allows
	HTTPAddr string // roomcast's HTTP server (live HLS)
	// RTMPCAFile is an extra PEM CA bundle for rtmps ingests.
	RTMPCAFile string
	// HLSVariant is "lowLatency" (default), "fmp4" or "mpegts".
	HLSVariant string
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
	DefaultHTTPAddr         = "127.0.0.1:8080"
	DefaultRTMPConnect      = 5 * time.Second
	DefaultRTMPRetryWindow  = 60 * time.Second
)

// Layouts returns the layouts the compositor knows.
func Layouts() []string { return []string{"grid", "speaker", "screen"} }

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

// Error is a validation error: one or more problems, each naming its field.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid job config: " + e.Problems[0]
	}
	return "invalid job config:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// RoomKind is what a meetingUrl's scheme selects.
type RoomKind string

// Room kinds.
const (
	RoomLiveKit RoomKind = "livekit"
	RoomFile    RoomKind = "file"
	RoomDemo    RoomKind = "demo"
)

// ParseMeetingURL returns the kind of room and what follows the scheme: the
// manifest path for file rooms, the URL itself for LiveKit.
func ParseMeetingURL(s string) (RoomKind, string, error) {
	const allowed = "allowed: livekit://HOST:PORT/ROOM, livekit+https://HOST/ROOM, livekit+wss://HOST/ROOM, file:PATH.yaml, demo:"
	switch {
	case s == "":
		return "", "", fmt.Errorf("meetingUrl is required (%s)", allowed)
	case s == "demo:" || s == "demo":
		return RoomDemo, "", nil
	case strings.HasPrefix(s, "file:"):
		p := strings.TrimPrefix(s, "file:")
		p = strings.TrimPrefix(p, "//")
		if p == "" {
			return "", "", fmt.Errorf("meetingUrl %q has no path: use file:PATH.yaml", s)
		}
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
			return "", "", fmt.Errorf("meetingUrl %q: a file room is a YAML manifest (file:PATH.yaml)", s)
		}
		return RoomFile, p, nil
	case strings.HasPrefix(s, "livekit://"), strings.HasPrefix(s, "livekit+https://"), strings.HasPrefix(s, "livekit+wss://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("meetingUrl: %v (%s)", err, allowed)
		}
		if u.Host == "" {
			return "", "", fmt.Errorf("meetingUrl %q has no host (%s)", s, allowed)
		}
		if strings.Trim(u.Path, "/") == "" || strings.Contains(strings.Trim(u.Path, "/"), "/") {
			return "", "", fmt.Errorf("meetingUrl %q must name exactly one room after the host (%s)", s, allowed)
		}
		return RoomLiveKit, s, nil
	}
	return "", "", fmt.Errorf("meetingUrl %q has an unknown scheme (%s)", s, allowed)
}

// Validate checks the job against the contract and roomcast's limits. It
// reports every problem at once.
func (j *Job) Validate() error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }

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
	if len(j.RTMPURLs) == 0 && !j.Record && !j.HLS && !j.HLSRecord {
		add("nothing to do: set record, give rtmpUrls (--rtmp), or set hls or hlsRecord")
	}
	if err := j.Resolution.Validate(); err != nil {
		add("resolution: %v", err)
	}
	if j.FPS < 1 || j.FPS > MaxFPS {
		add("fps: %d is out of range (allowed: 1..%d)", j.FPS, MaxFPS)
	}
	if !slices.Contains(Layouts(), j.Layout) {
		add("layout: %q is unknown (allowed: %s)", j.Layout, strings.Join(Layouts(), ", "))
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
	if j.RTMPRetryWindow < 0 || j.RTMPRetryWindow > Duration(24*time.Hour) {
		add("rtmpRetryWindow: %s is out of range (allowed: 0..24h; 0 means the default, 60s)", j.RTMPRetryWindow)
	}
	if len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

// Resolution is the output size. In JSON and YAML it is {width, height} or
// "WxH"; on the command line "WxH".
type Resolution struct {
	Width  int `json:"width" yaml:"width"`
	Height int `json:"height" yaml:"height"`
}

func (r Resolution) String() string { return fmt.Sprintf("%dx%d", r.Width, r.Height) }

// ParseResolution reads "WxH".
func ParseResolution(s string) (Resolution, error) {
	w, h, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT (for example 1280x720 or 720x1280)", s)
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil {
		return Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT (for example 1280x720 or 720x1280)", s)
	}
	return Resolution{wi, hi}, nil
}

// Validate checks even sizes from 160 up to 3840x2160, landscape or portrait.
func (r Resolution) Validate() error {
	const allowed = "allowed: even sizes from 160 to 3840 wide and 160 to 2160 high, or the portrait equivalents, such as 1280x720 or 720x1280"
	long, short := max(r.Width, r.Height), min(r.Width, r.Height)
	switch {
	case r.Width%2 != 0 || r.Height%2 != 0:
		return fmt.Errorf("%s has an odd side (%s)", r, allowed)
	case short < MinSide:
		return fmt.Errorf("%s is too small (%s)", r, allowed)
	case long > MaxLongSide || short > MaxShortSide:
		return fmt.Errorf("%s is too large (%s)", r, allowed)
	}
	return nil
}

// UnmarshalJSON accepts {width, height} or "WxH".
func (r *Resolution) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := ParseResolution(s)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	type plain Resolution
	var v plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("resolution: want {\"width\": W, \"height\": H} or \"WxH\": %w", err)
	}
	*r = Resolution(v)
	return nil
}

// UnmarshalYAML accepts {width, height} or "WxH".
func (r *Resolution) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := ParseResolution(n.Value)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	type plain Resolution
	var v plain
	if err := n.Decode(&v); err != nil {
		return err
	}
	*r = Resolution(v)
	return nil
}

// Duration is a time.Duration written as "90s", "4h" or "1h30m" (a bare
// number means seconds).
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads "10s", "4h", or a number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (for example 90s, 10m or 4h)", s)
	}
	return Duration(d), nil
}

// MarshalJSON writes "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts "10s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes "10s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML accepts "10s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Bitrate is bits per second, written as 2500000, "2500k" or "2.5M".
type Bitrate int64

func (b Bitrate) String() string {
	switch {
	case b >= 1_000_000 && b%100_000 == 0:
		return strconv.FormatFloat(float64(b)/1e6, 'f', -1, 64) + "M"
	case b >= 1000 && b%1000 == 0:
		return strconv.FormatInt(int64(b)/1000, 10) + "k"
	}
	return strconv.FormatInt(int64(b), 10)
}

// ParseBitrate reads 2500000, "2500k" or "2.5M".
func ParseBitrate(s string) (Bitrate, error) {
	s = strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a bitrate (for example 2500000, 2500k or 2.5M)", s)
	}
	return Bitrate(f * mult), nil
}

// UnmarshalJSON accepts a number or "2500k".
func (b *Bitrate) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		s = string(data)
	}
	v, err := ParseBitrate(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML accepts a number or "2500k".
func (b *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseBitrate(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ValidateRTMPURL checks an ingest URL's shape: rtmp or rtmps, a host, an
// app and a stream key (the last path element). Errors never contain the key.
func ValidateRTMPURL(raw string) error { return rtmp.ValidateURL(raw) }

// MaskRTMPURL hides the stream key (everything after the app) and any
// credentials: rtmp://host/app/****.
func MaskRTMPURL(raw string) string { return rtmp.MaskURL(raw) }
