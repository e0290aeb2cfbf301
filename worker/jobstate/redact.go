package jobstate

import "net/url"

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
