package janus

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ParseURL splits a roomcast Janus URL into the HTTP API's root and the
// VideoRoom room:
//
//	janus://host:port/ROOM               -> http://host:port/janus, ROOM
//	janus://host:port/PATH/ROOM          -> http://host:port/PATH, ROOM
//	janus+http://host:port/PATH/ROOM     -> http://host:port/PATH, ROOM
//	janus+https://host/PATH/ROOM         -> https://host/PATH, ROOM
//
// ROOM is the room's number, or its name in rooms made with string_ids.
// Without PATH the API is at /janus, Janus's default base_path. The PIN
// and the API token never go in the URL.
func ParseURL(u string) (base string, room id, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		// url.Parse echoes the input, which may carry a secret; say less.
		return "", "", errors.New("janus: URL is not a valid URL")
	}
	var scheme string
	switch strings.ToLower(pu.Scheme) {
	case "janus", "janus+http":
		scheme = "http"
	case "janus+https":
		scheme = "https"
	default:
		return "", "", fmt.Errorf("janus: URL scheme %q is not janus:// or janus+https://", pu.Scheme)
	}
	if pu.User != nil {
		return "", "", errors.New("janus: URL must not carry credentials; use --janus-token (JANUS_TOKEN) and --janus-pin (JANUS_ROOM_PIN)")
	}
	if pu.Host == "" {
		return "", "", errors.New("janus: URL has no host (janus://HOST:PORT/ROOM)")
	}
	if pu.RawQuery != "" || pu.Fragment != "" {
		return "", "", errors.New("janus: URL must not have a query or fragment; use --janus-token and --janus-pin for secrets")
	}
	p := strings.Trim(pu.Path, "/")
	if p == "" {
		return "", "", errors.New("janus: URL has no room (janus://HOST:PORT/ROOM)")
	}
	prefix := "/janus"
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		prefix, p = "/"+p[:i], p[i+1:]
	}
	if n, err := strconv.ParseUint(p, 10, 64); err == nil && n == 0 {
		return "", "", errors.New("janus: room 0 is not a VideoRoom room (rooms are numbered from 1)")
	}
	return scheme + "://" + pu.Host + prefix, id(p), nil
}
