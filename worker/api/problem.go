package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Error codes of the API, beyond the job contract's own.
const (
	CodeUnauthorized    = "UNAUTHORIZED"
	CodeNotFound        = "NOT_FOUND"
	CodeInvalidConfig   = "INVALID_CONFIG"
	CodeInvalidQuery    = "INVALID_QUERY"
	CodeConflictRunning = "CONFLICT_RUNNING"
	CodeAlreadyExists   = "ALREADY_EXISTS"
	CodeNotRunning      = "NOT_RUNNING"
	CodeTooLarge        = "TOO_LARGE"
	CodeNoCapacity      = "NO_CAPACITY"
	CodeShuttingDown    = "SHUTTING_DOWN"
	// CodeNodeUnavailable: the fleet node that runs the job does not
	// answer (503, Retry-After): it is gone, and the job is moving.
	CodeNodeUnavailable = "NODE_UNAVAILABLE"
	CodeMethod          = "METHOD_NOT_ALLOWED"
	CodeInternal        = "INTERNAL"
)

// FieldProblem names one bad field of a request.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is every error body: a code, a message and, for a bad config, each
// bad field. A Service returns one to choose the answer; RetryAfter adds the
// header of a 503.
type Problem struct {
	Status     int            `json:"-"`
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	Fields     []FieldProblem `json:"fields,omitempty"`
	RetryAfter time.Duration  `json:"-"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Message }

// ProblemOf turns any error a Service returns into the answer it stands
// for: a fleet node passes it on to the node that was called.
func ProblemOf(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		if p.Status == 0 {
			p.Status = statusOf(p.Code)
		}
		return p
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return invalidConfig(ce)
	}
	var se *config.SyntaxError
	if errors.As(err, &se) {
		return &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig, Message: se.Error()}
	}
	var we *jobstate.Error
	if errors.As(err, &we) {
		code := we.Code
		switch code {
		case jobstate.CodeAlreadyRunning:
			code = CodeConflictRunning
		}
		p := &Problem{Status: statusOf(code), Code: code, Message: we.Message}
		if code == CodeInvalidConfig {
			// A job's process that refuses its config ("meetingUrl: …")
			// names the field as a config error does.
			if f := fieldOf(we.Message); f != "" {
				p.Fields = []FieldProblem{{Field: f, Message: we.Message}}
			}
		}
		return p
	}
	return &Problem{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}
}

// invalidConfig lists a config error's problems by field. A problem starts
// with its field's name ("rtmpUrls: at most 3 URLs"), or names an unknown
// field (`unknown field "recrod" (known: …)`), as config writes them.
func invalidConfig(ce *config.Error) *Problem {
	p := &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig, Message: ce.Error()}
	for _, msg := range ce.Problems {
		p.Fields = append(p.Fields, FieldProblem{Field: fieldOf(msg), Message: msg})
	}
	return p
}

func fieldOf(msg string) string {
	if rest, ok := strings.CutPrefix(msg, `unknown field "`); ok {
		if f, _, ok := strings.Cut(rest, `"`); ok {
			return f
		}
	}
	// "rtmpUrls: …" or `meetingUrl "x" has …`: the first word, if it is a
	// field (or a field's part, as in resolution.width or rtmpUrls[1]).
	word := msg
	if i := strings.IndexAny(msg, ": "); i >= 0 {
		word = msg[:i]
	}
	top, _, _ := strings.Cut(word, ".")
	top, _, _ = strings.Cut(top, "[") // rtmpUrls[1]
	if slices.Contains(config.FieldNames(), top) {
		return word
	}
	return ""
}

func statusOf(code string) int {
	switch code {
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeNotFound:
		return http.StatusNotFound
	case CodeInvalidConfig, CodeInvalidQuery:
		return http.StatusUnprocessableEntity
	case CodeConflictRunning, CodeAlreadyExists, CodeNotRunning:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeNoCapacity, CodeShuttingDown, CodeNodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeMethod:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, p.Status, p)
}

// writeError answers err; an internal error is logged, since its text is not
// shown to the client.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemOf(err)
	if p.Status >= 500 && p.Code == CodeInternal {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"INTERNAL","message":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
