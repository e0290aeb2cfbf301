package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

type envVar struct {
	name string
	help string
	set  func(j *Job, w *Worker, v string) error
}

func envVars() []envVar {
	boolean := func(dst func(j *Job, w *Worker) *bool) func(*Job, *Worker, string) error {
		return func(j *Job, w *Worker, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*dst(j, w) = b
			return nil
		}
	}
	duration := func(dst func(j *Job) *Duration) func(*Job, *Worker, string) error {
		return func(j *Job, _ *Worker, v string) error {
			d, err := ParseDuration(v)
			if err != nil {
				return err
			}
			*dst(j) = d
			return nil
		}
	}
	bitrate := func(dst func(j *Job) *Bitrate) func(*Job, *Worker, string) error {
		return func(j *Job, _ *Worker, v string) error {
			b, err := ParseBitrate(v)
			if err != nil {
				return err
			}
			*dst(j) = b
			return nil
		}
	}
	str := func(dst func(j *Job, w *Worker) *string) func(*Job, *Worker, string) error {
		return func(j *Job, w *Worker, v string) error { *dst(j, w) = v; return nil }
	}
	return []envVar{
		{"ROOMCAST_MEETING_URL", "the room (meetingUrl)", str(func(j *Job, _ *Worker) *string { return &j.MeetingURL })},
		{"ROOMCAST_ROOM", "alias of ROOMCAST_MEETING_URL", str(func(j *Job, _ *Worker) *string { return &j.MeetingURL })},
		{"ROOMCAST_JOB_ID", "job id", str(func(j *Job, _ *Worker) *string { return &j.ID })},
		{"ROOMCAST_RTMP_URLS", "RTMP URLs, separated by commas or spaces", func(j *Job, _ *Worker, v string) error {
			j.RTMPURLs = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
			return nil
		}},
		{"ROOMCAST_RECORD", "write the archival MP4", boolean(func(j *Job, _ *Worker) *bool { return &j.Record })},
		{"ROOMCAST_HLS", "serve live HLS", boolean(func(j *Job, _ *Worker) *bool { return &j.HLS })},
		{"ROOMCAST_HLS_RECORD", "write an HLS recording", boolean(func(j *Job, _ *Worker) *bool { return &j.HLSRecord })},
		{"ROOMCAST_AUDIO_ONLY", "mix the audio only: recording.m4a, audio-only RTMP and HLS", boolean(func(j *Job, _ *Worker) *bool { return &j.AudioOnly })},
		{"ROOMCAST_TRACKS", "also record each track to tracks/, with tracks/room.yaml", boolean(func(j *Job, _ *Worker) *bool { return &j.Tracks })},
		{"ROOMCAST_RESOLUTION", "WxH", func(j *Job, _ *Worker, v string) error {
			r, err := ParseResolution(v)
			if err != nil {
				return err
			}
			j.Resolution = r
			return nil
		}},
		{"ROOMCAST_FPS", "frames per second", func(j *Job, _ *Worker, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v)
			}
			j.FPS = n
			return nil
		}},
		{"ROOMCAST_LAYOUT", "a preset (grid, speaker, single, screenshare, pip)", str(func(j *Job, _ *Worker) *string { return (*string)(&j.Layout) })},
		{"ROOMCAST_VIDEO_BITRATE", "video bits per second", bitrate(func(j *Job) *Bitrate { return &j.VideoBitrate })},
		{"ROOMCAST_AUDIO_BITRATE", "audio bits per second", bitrate(func(j *Job) *Bitrate { return &j.AudioBitrate })},
		{"ROOMCAST_MAX_DURATION", "the job ends by itself after this", duration(func(j *Job) *Duration { return &j.MaxDuration })},
		{"ROOMCAST_DURATION", "alias of ROOMCAST_MAX_DURATION", duration(func(j *Job) *Duration { return &j.MaxDuration })},
		{"ROOMCAST_EMPTY_ROOM_TIMEOUT", "the job ends this long after the last peer left", duration(func(j *Job) *Duration { return &j.EmptyRoomTimeout })},
		{"ROOMCAST_RTMP_CONNECT_TIMEOUT", "RTMP connect timeout", duration(func(j *Job) *Duration { return &j.RTMPConnectTimeout })},
		{"ROOMCAST_RTMP_RETRY_WINDOW", "how long a dropped RTMP URL is retried", duration(func(j *Job) *Duration { return &j.RTMPRetryWindow })},
		{"ROOMCAST_OUT", "the job's output folder", str(func(_ *Job, w *Worker) *string { return &w.Out })},
		{"ROOMCAST_FAST", "file rooms: run as fast as the CPU allows", boolean(func(_ *Job, w *Worker) *bool { return &w.Fast })},
		{"ROOMCAST_HTTP", "HTTP listen address", str(func(_ *Job, w *Worker) *string { return &w.HTTPAddr })},
		{"ROOMCAST_RTMP_CA_FILE", "extra CA bundle for rtmps", str(func(_ *Job, w *Worker) *string { return &w.RTMPCAFile })},
		{"ROOMCAST_HLS_VARIANT", "lowLatency, fmp4 or mpegts", str(func(_ *Job, w *Worker) *string { return &w.HLSVariant })},
	}
}

// EnvHelp lists the ROOMCAST_* variables, for --help.
func EnvHelp() string {
	var b strings.Builder
	for _, e := range envVars() {
		fmt.Fprintf(&b, "  %-28s %s\n", e.name, e.help)
	}
	return b.String()
}

// ApplyEnv merges ROOMCAST_* variables from environ (os.Environ's form). An
// unknown ROOMCAST_ variable is an error, so a misspelling is not ignored.
func ApplyEnv(environ []string, j *Job, w *Worker) error {
	known := map[string]envVar{}
	var names []string
	for _, e := range envVars() {
		known[e.name] = e
		names = append(names, e.name)
	}
	sort.Strings(names)
	var problems []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "ROOMCAST_") {
			continue
		}
		e, ok := known[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a roomcast setting (known: %s)", k, strings.Join(names, ", ")))
			continue
		}
		if err := e.set(j, w, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
		}
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}
