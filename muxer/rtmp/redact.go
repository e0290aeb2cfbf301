package rtmp

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// redactor hides the stream key in text this package did not write itself:
// errors from the network stack and the TLS library, and messages the server
// sends back (some servers echo the stream name). Everything the package
// returns, reports or logs goes through it.
type redactor struct {
	secrets []string // longest first, so a URL is replaced before its key
	shown   string   // the masked URL that stands in for the full one
}

func newRedactor(raw string, t *target) redactor {
	r := redactor{shown: MaskURL(raw)}
	add := func(s string) {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	add(raw)
	add(strings.TrimSpace(raw))
	if t != nil {
		add(t.key)
		name, query, _ := strings.Cut(t.key, "?")
		add(name)
		add(query)
		// Tokens in the query are secrets on their own too.
		if vals, err := url.ParseQuery(query); err == nil {
			for _, vs := range vals {
				for _, v := range vs {
					add(v)
				}
			}
		}
		add(url.PathEscape(name))
		add(url.QueryEscape(name))
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// str returns s with the URL masked and the key replaced by ****. A very
// short key garbles the text where it happens to occur; showing it would be
// worse.
func (r redactor) str(s string) string {
	for _, sec := range r.secrets {
		if strings.Contains(sec, "://") {
			s = strings.ReplaceAll(s, sec, r.shown)
			continue
		}
		s = strings.ReplaceAll(s, sec, mask)
	}
	return s
}

// err masks err's text. The result still answers errors.Is for what err
// wraps (context.Canceled, os.ErrDeadlineExceeded...), but does not expose
// the unmasked chain through Unwrap.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*maskedError); ok {
		return err
	}
	return &maskedError{msg: r.str(err.Error()), cause: err}
}

// maskedError is an error whose message has been redacted.
type maskedError struct {
	msg   string
	cause error
}

func (e *maskedError) Error() string { return e.msg }

// Is lets errors.Is see through to the cause without Unwrap, which would hand
// callers the unmasked message.
func (e *maskedError) Is(target error) bool { return errors.Is(e.cause, target) }
