package worker

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
)

// newID returns a short random job id.
func newID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "job-" + hex.EncodeToString(b)
}

// RedactRoom drops credentials and query strings (tokens) from a meetingUrl,
// for state, logs and errors.
func RedactRoom(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "file" || u.Scheme == "demo" || u.Opaque != "" {
		return s
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
