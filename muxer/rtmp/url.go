package rtmp

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// mask replaces the stream key (and anything else secret) wherever a URL is
// shown.
const mask = "****"

// target is a validated ingest URL split into what the RTMP handshake needs.
type target struct {
	scheme string // "rtmp" or "rtmps"
	host   string // hostname without port, for TLS server name
	addr   string // host:port to dial
	app    string // everything between host and key, without slashes at the ends
	key    string // the last path element plus any query: the publish name
	tcURL  string // scheme://host[:port]/app: what the server sees as the connect URL
	masked string // scheme://host[:port]/app/****
}

// ValidateURL checks that raw is an RTMP(S) ingest URL with a host, an
// application and a stream key (the last path element). The error names what
// is wrong and never contains the stream key.
func ValidateURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

// parseURL validates raw and splits it. Errors quote only masked parts.
func parseURL(raw string) (*target, error) {
	shown := MaskURL(raw)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("rtmp url %s: %s", shown, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("rtmp url: empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, key included: never pass it on.
		return nil, fail("not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	defaultPort := ""
	switch scheme {
	case "rtmp":
		defaultPort = "1935"
	case "rtmps":
		defaultPort = "443"
	case "":
		return nil, fail("missing scheme: want rtmp:// or rtmps://")
	default:
		return nil, fail("unsupported scheme %q: want rtmp or rtmps", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, fail("missing // after the scheme")
	}
	if u.User != nil {
		return nil, fail("user credentials in the URL are not supported")
	}
	host := u.Hostname()
	if host == "" {
		return nil, fail("missing host")
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, fail("empty port")
		}
		port = defaultPort
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fail("invalid port %q", port)
	}
	if u.Fragment != "" {
		return nil, fail("unexpected fragment (#...)")
	}
	path := strings.Trim(u.EscapedPath(), "/")
	i := strings.LastIndexByte(path, '/')
	if path == "" {
		return nil, fail("missing application and stream key: want %s://host/app/KEY", scheme)
	}
	if i < 0 {
		return nil, fail("missing stream key (or application): want %s://host/app/KEY", scheme)
	}
	app, key := path[:i], path[i+1:]
	for _, seg := range strings.Split(app, "/") {
		if seg == "" {
			return nil, fail("empty element in application path")
		}
	}
	if app, err = url.PathUnescape(app); err != nil {
		return nil, fail("invalid escape in application")
	}
	if key, err = url.PathUnescape(key); err != nil {
		return nil, fail("invalid escape in stream key")
	}
	if u.RawQuery != "" {
		// Services that authenticate by query (key?token=...) expect it as
		// part of the publish name, where nginx-rtmp and others parse it.
		key += "?" + u.RawQuery
	}
	hostport := u.Host
	return &target{
		scheme: scheme,
		host:   host,
		addr:   net.JoinHostPort(host, port),
		app:    app,
		key:    key,
		tcURL:  scheme + "://" + hostport + "/" + app,
		masked: shown,
	}, nil
}

// MaskURL returns raw with everything after the application replaced by
// "****": rtmp://host/app/**** . It works on invalid URLs too (best effort,
// erring on hiding too much): a URL with a single path element shows
// rtmp://host/****, credentials become ****@, and an unparsable tail is
// hidden entirely.
func MaskURL(raw string) string {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || strings.ContainsAny(scheme, "/?#@") {
		if raw == "" {
			return ""
		}
		return mask
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = mask + "@" + authority[i+1:]
	}
	out := scheme + "://" + authority
	// Only the path before any query or fragment can hold the app; the key
	// is its last element, and whatever follows is part of the key.
	path := tail
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	hasQuery := len(path) < len(tail)
	path = strings.Trim(path, "/")
	if path == "" {
		if hasQuery {
			return out + "/" + mask
		}
		return out
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return out + "/" + mask
	}
	return out + "/" + path[:i] + "/" + mask
}
