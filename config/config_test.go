package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func valid() Job {
	j := Job{MeetingURL: "demo:", Record: true}
	j.ApplyDefaults()
	return j
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Job)
		want   []string // substrings of the error; nil means valid
	}{
		{"defaults", func(*Job) {}, nil},
		{"portrait", func(j *Job) { j.Resolution = Resolution{720, 1280} }, nil},
		{"4k", func(j *Job) { j.Resolution = Resolution{3840, 2160} }, nil},
		{"portrait 4k", func(j *Job) { j.Resolution = Resolution{2160, 3840} }, nil},
		{"odd", func(j *Job) { j.Resolution = Resolution{1281, 720} }, []string{"resolution", "1281x720", "odd", "even sizes"}},
		{"small", func(j *Job) { j.Resolution = Resolution{158, 720} }, []string{"resolution", "too small"}},
		{"large", func(j *Job) { j.Resolution = Resolution{3842, 2160} }, []string{"resolution", "too large"}},
		{"wide and tall", func(j *Job) { j.Resolution = Resolution{2400, 2400} }, []string{"too large"}},
		{"fps", func(j *Job) { j.FPS = 61 }, []string{"fps", "61", "1..60"}},
		{"layout", func(j *Job) { j.Layout = "mosaic" }, []string{"layout", "mosaic", "grid, pip, screenshare, single, speaker"}},
		{"nothing", func(j *Job) { j.Record = false }, []string{"nothing to do"}},
		{"tracks only", func(j *Job) { j.Record, j.Tracks = false, true }, nil},
		{"audio only", func(j *Job) { j.AudioOnly = true }, nil},
		{"audio only thumbnails", func(j *Job) { j.AudioOnly, j.Thumbnails = true, Duration(10*time.Second) }, []string{"thumbnails", "audioOnly", "no picture"}},
		{"no room", func(j *Job) { j.MeetingURL = "" }, []string{"meetingUrl is required", "file:PATH.yaml"}},
		{"bad scheme", func(j *Job) { j.MeetingURL = "zoom://x" }, []string{"unknown scheme", "livekit://"}},
		{"livekit no room", func(j *Job) { j.MeetingURL = "livekit://127.0.0.1:7880" }, []string{"exactly one room"}},
		{"livekit credentials", func(j *Job) { j.MeetingURL = "livekit://bot:PASSWORD@lk.example.com/standup" }, []string{"meetingUrl", "livekit://lk.example.com/standup", "no credentials", "LIVEKIT_API_KEY"}},
		{"livekit query", func(j *Job) { j.MeetingURL = "livekit://lk.example.com/standup?access_token=PASSWORD" }, []string{"meetingUrl", "no credentials, query"}},
		{"livekit bad escape", func(j *Job) { j.MeetingURL = "livekit://bot:PASSWORD@lk.example.com/%zz" }, []string{"meetingUrl", "not a valid URL"}},
		{"livekit ok", func(j *Job) { j.MeetingURL = "livekit+https://lk.example.com/standup" }, nil},
		{"file not yaml", func(j *Job) { j.MeetingURL = "file:room.txt" }, []string{"YAML manifest"}},
		{"four rtmp", func(j *Job) {
			j.RTMPURLs = []string{"rtmp://a/live/k1", "rtmp://a/live/k2", "rtmp://a/live/k3", "rtmp://a/live/k4"}
		}, []string{"rtmpUrls: 4 URLs given, the limit is 3"}},
		{"rtmp scheme", func(j *Job) { j.RTMPURLs = []string{"http://a/live/SECRETKEY"} }, []string{"rtmpUrls[0]", "scheme \"http\""}},
		{"rtmp no key", func(j *Job) { j.RTMPURLs = []string{"rtmp://a/live"} }, []string{"rtmpUrls[0]", "missing stream key"}},
		{"rtmp dup", func(j *Job) { j.RTMPURLs = []string{"rtmp://a/live/SECRETKEY", "rtmp://a/live/SECRETKEY"} }, []string{"rtmpUrls[1]", "same URL", "rtmp://a/live/****"}},
		{"rtmp only", func(j *Job) {
			j.Record = false
			j.RTMPURLs = []string{"rtmps://live-api-s.facebook.com:443/rtmp/SECRETKEY"}
		}, nil},
		{"bitrate", func(j *Job) { j.VideoBitrate = 10 }, []string{"videoBitrate", "100k..50M"}},
		{"negative", func(j *Job) { j.EmptyRoomTimeout = -1 }, []string{"emptyRoomTimeout"}},
		{"id", func(j *Job) { j.ID = "standup-2026-12_02" }, nil},
		{"id dot", func(j *Job) { j.ID = "standup.2" }, []string{"id:", `"standup.2" is not a job id`}},
		{"id path", func(j *Job) { j.ID = "../etc" }, []string{"id:", `"../etc" is not a job id`, "letters, digits"}},
		{"id slash", func(j *Job) { j.ID = "a/b" }, []string{"id:", "letters, digits"}},
		{"id space", func(j *Job) { j.ID = "a b" }, []string{"id:"}},
		{"id long", func(j *Job) { j.ID = strings.Repeat("a", MaxIDLength+1) }, []string{"id:", "up to 64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := valid()
			tc.mutate(&j)
			err := j.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRETKEY") || strings.Contains(err.Error(), "PASSWORD") {
				t.Errorf("error leaks the stream key or password: %v", err)
			}
		})
	}
}

func TestMaskRTMPURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://a.rtmp.youtube.com/live2/KEY1":          "rtmp://a.rtmp.youtube.com/live2/****",
		"rtmps://live-api-s.facebook.com:443/rtmp/KEY2": "rtmps://live-api-s.facebook.com:443/rtmp/****",
		"rtmp://user:pass@127.0.0.1/live/KEY3":          "rtmp://****@127.0.0.1/live/****",
		"rtmp://host/app/inst/KEY":                      "rtmp://host/app/inst/****",
		"rtmp://host/KEY":                               "rtmp://host/****",
		"rtmp://bad host/app/KEY":                       "rtmp://bad host/app/****",
	} {
		if got := MaskRTMPURL(in); got != want {
			t.Errorf("MaskRTMPURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultsAndBitrate(t *testing.T) {
	j := Job{MeetingURL: "demo:", Record: true}
	j.ApplyDefaults()
	if j.Resolution != (Resolution{1280, 720}) || j.FPS != 30 || j.Layout != "grid" {
		t.Fatalf("defaults: %+v", j)
	}
	if j.VideoBitrate != 2_500_000 {
		t.Errorf("720p30 bitrate %s", j.VideoBitrate)
	}
	if j.MaxDuration != Duration(4*time.Hour) || j.EmptyRoomTimeout != Duration(5*time.Minute) {
		t.Errorf("limits %s %s", j.MaxDuration, j.EmptyRoomTimeout)
	}
	for in, want := range map[string]Bitrate{"2500k": 2_500_000, "2.5M": 2_500_000, "128000": 128_000} {
		if got, err := ParseBitrate(in); err != nil || got != want {
			t.Errorf("ParseBitrate(%q) = %v, %v", in, got, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var j Job
	if err := LoadFile(write("job.json", `{"meetingUrl":"demo:","record":true,"resolution":{"width":720,"height":1280},"maxDuration":"10s","videoBitrate":"3M"}`), &j); err != nil {
		t.Fatal(err)
	}
	if j.Resolution != (Resolution{720, 1280}) || j.MaxDuration != Duration(10*time.Second) || j.VideoBitrate != 3_000_000 {
		t.Fatalf("json: %+v", j)
	}
	j = Job{}
	if err := LoadFile(write("job.yaml", "meetingUrl: \"demo:\"\nrecord: true\nresolution: 640x360\nfps: 25\nrtmpUrls: [rtmp://h/live/k]\n"), &j); err != nil {
		t.Fatal(err)
	}
	if j.Resolution != (Resolution{640, 360}) || j.FPS != 25 || len(j.RTMPURLs) != 1 {
		t.Fatalf("yaml: %+v", j)
	}
	for name, body := range map[string]string{
		"typo.yaml": "meetingUrl: demo\nrecrod: true\n",
		"typo.json": `{"meetingUrl":"demo:","recrod":true}`,
	} {
		err := LoadFile(write(name, body), &Job{})
		if err == nil || !strings.Contains(err.Error(), "recrod") {
			t.Errorf("%s: want an error naming the unknown field, got %v", name, err)
		}
	}
	if err := LoadFile(write("bad.yaml", "resolution: huge\n"), &Job{}); err == nil || !strings.Contains(err.Error(), "WIDTHxHEIGHT") {
		t.Errorf("bad resolution: %v", err)
	}
}

func TestApplyEnv(t *testing.T) {
	var j Job
	var w Worker
	err := ApplyEnv([]string{
		"PATH=/bin", "ROOMCAST_ROOM=demo:", "ROOMCAST_RECORD=true", "ROOMCAST_RTMP_URLS=rtmp://a/l/k1, rtmp://b/l/k2",
		"ROOMCAST_RESOLUTION=720x1280", "ROOMCAST_DURATION=15s", "ROOMCAST_OUT=/tmp/x", "ROOMCAST_FAST=1",
	}, &j, &w)
	if err != nil {
		t.Fatal(err)
	}
	if j.MeetingURL != "demo:" || !j.Record || len(j.RTMPURLs) != 2 || j.Resolution.Height != 1280 ||
		j.MaxDuration != Duration(15*time.Second) || w.Out != "/tmp/x" || !w.Fast {
		t.Fatalf("env: %+v %+v", j, w)
	}
	err = ApplyEnv([]string{"ROOMCAST_RECORDD=true", "ROOMCAST_FPS=abc"}, &j, &w)
	if err == nil || !strings.Contains(err.Error(), "ROOMCAST_RECORDD is not a roomcast setting") || !strings.Contains(err.Error(), "ROOMCAST_FPS") {
		t.Fatalf("env errors: %v", err)
	}
}
