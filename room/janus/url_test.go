package janus

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, base, room, err string
	}{
		{in: "janus://127.0.0.2:8088/1234", base: "http://127.0.0.2:8088/janus", room: "1234"},
		{in: "janus://h:8088/gw/janus/1234", base: "http://h:8088/gw/janus", room: "1234"},
		{in: "janus+https://janus.example.com/janus/1234", base: "https://janus.example.com/janus", room: "1234"},
		{in: "janus+http://h/standup", base: "http://h/janus", room: "standup"},
		{in: "JANUS://h:1/7", base: "http://h:1/janus", room: "7"},
		{in: "janus://h:8088", err: "no room"},
		{in: "janus://h:8088/0", err: "room 0"},
		{in: "janus://user:secretpw@h/1", err: "credentials"},
		{in: "janus://h/1?pin=secretpw", err: "query"},
		{in: "janus:///1", err: "no host"},
		{in: "livekit://h/1", err: "scheme"},
		{in: "janus://h/%zz?pin=secretpw", err: "not a valid URL"},
	} {
		base, room, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secretpw") {
				t.Errorf("%s: the error shows the secret: %v", tc.in, err)
			}
			continue
		}
		if err != nil || base != tc.base || string(room) != tc.room {
			t.Errorf("%s: %q %q %v, want %q %q", tc.in, base, room, err, tc.base, tc.room)
		}
	}
}

func TestSubstreamFor(t *testing.T) {
	for h, want := range map[int]int{90: 0, 180: 0, 181: 1, 360: 1, 361: 2, 1080: 2} {
		if got := substreamFor(h); got != want {
			t.Errorf("height %d: substream %d, want %d", h, got, want)
		}
	}
}

func TestSourceOf(t *testing.T) {
	for d, want := range map[string]string{"screen": "screen", "Screen share": "screen", " screenshare": "screen", "camera": "regular", "": "regular", "my screen": "regular"} {
		if got := string(sourceOf(d)); got != want {
			t.Errorf("description %q: %s, want %s", d, got, want)
		}
	}
}
