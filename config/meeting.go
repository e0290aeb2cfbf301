package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/roomcast/roomcast/muxer/rtmp"
)

// RoomKind is what a meetingUrl's scheme selects.
type RoomKind string

// Room kinds.
const (
	RoomLiveKit RoomKind = "livekit"
	RoomFile    RoomKind = "file"
	RoomDemo    RoomKind = "demo"
	RoomJanus   RoomKind = "janus"
)

// ParseMeetingURL returns the kind of room and what follows the scheme: the
// manifest path for file rooms, the URL itself for LiveKit and Janus.
func ParseMeetingURL(s string) (RoomKind, string, error) {
	const allowed = "allowed: livekit://HOST:PORT/ROOM, livekit+https://HOST/ROOM, livekit+wss://HOST/ROOM, janus://HOST:PORT/ROOM, janus+https://HOST/PATH/ROOM, file:PATH.yaml, demo:"
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
		// url.Parse's errors quote the input, which may carry a password.
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("meetingUrl: not a valid URL (%s)", allowed)
		}
		switch {
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			// Refused here, before the job is stored or its process
			// started, so that the credentials are written nowhere.
			return "", "", fmt.Errorf("meetingUrl %q: a LiveKit URL carries no credentials, query or fragment: give the API key and secret with LIVEKIT_API_KEY and LIVEKIT_API_SECRET", redactURL(s))
		case u.Host == "":
			return "", "", fmt.Errorf("meetingUrl %q has no host (%s)", s, allowed)
		case strings.Trim(u.Path, "/") == "" || strings.Contains(strings.Trim(u.Path, "/"), "/"):
			return "", "", fmt.Errorf("meetingUrl %q must name exactly one room after the host (%s)", s, allowed)
		}
		return RoomLiveKit, s, nil
	case strings.HasPrefix(s, "janus://"), strings.HasPrefix(s, "janus+https://"), strings.HasPrefix(s, "janus+http://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", "", fmt.Errorf("meetingUrl: not a valid URL (%s)", allowed)
		}
		switch {
		case u.Host == "":
			return "", "", fmt.Errorf("meetingUrl %q has no host (%s)", RedactJanusURL(s), allowed)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return "", "", fmt.Errorf("meetingUrl %q: a Janus URL carries no credentials, query or fragment: give the PIN and token with --janus-pin/JANUS_ROOM_PIN and --janus-token/JANUS_TOKEN", RedactJanusURL(s))
		case strings.Trim(u.Path, "/") == "":
			return "", "", fmt.Errorf("meetingUrl %q must name a room after the host (%s)", s, allowed)
		}
		return RoomJanus, s, nil
	}
	return "", "", fmt.Errorf("meetingUrl %q has an unknown scheme (%s)", s, allowed)
}

// RedactJanusURL drops what a Janus URL must not carry (userinfo, query,
// fragment) so that an error can name the URL without leaking a secret.
func RedactJanusURL(s string) string {
	if _, err := url.Parse(s); err != nil {
		return "janus://…"
	}
	return redactURL(s)
}

// redactURL drops a URL's userinfo, query and fragment; s must parse.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "…"
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// ValidateRTMPURL checks an ingest URL's shape: rtmp or rtmps, a host, an
// app and a stream key (the last path element). Errors never contain the key.
func ValidateRTMPURL(raw string) error { return rtmp.ValidateURL(raw) }

// MaskRTMPURL hides the stream key (everything after the app) and any
// credentials: rtmp://host/app/****.
func MaskRTMPURL(raw string) string { return rtmp.MaskURL(raw) }
