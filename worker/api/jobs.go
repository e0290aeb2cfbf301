package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// jobID is what the service accepts as a job id: it names a folder under
// --data and a NATS subject token, so nothing else gets in.
var jobID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// readBody reads a request body of at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Problem) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Problem{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "the body is over 64 KiB"}
		}
		return nil, &Problem{Status: http.StatusBadRequest, Code: CodeInvalidConfig, Message: "reading the body: " + err.Error()}
	}
	return b, nil
}

// decodeStrict decodes a JSON object into v, refusing unknown fields and
// trailing data, with the field named.
func decodeStrict(b []byte, v any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return nil
	}
	p := &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig, Message: "invalid body: " + err.Error()}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		p.Fields = []FieldProblem{{Field: f, Message: "unknown field"}}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p.Fields = []FieldProblem{{Field: te.Field, Message: "must be " + te.Type.String()}}
	}
	return p
}

func (a *API) startJob(w http.ResponseWriter, r *http.Request) {
	b, p := readBody(w, r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var cfg config.Job
	if err := config.Decode(b, config.JSON, &cfg); err != nil {
		a.writeError(w, r, err)
		return
	}
	if cfg.ID != "" && !jobID.MatchString(cfg.ID) {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig,
			Message: "invalid job config: id: " + strconv.Quote(cfg.ID) + " is not a job id",
			Fields:  []FieldProblem{{Field: "id", Message: "1 to 64 letters, digits, '-' or '_'"}}})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig, Message: "Idempotency-Key: at most 255 characters"})
		return
	}
	s, existed, err := a.opts.Service.StartJob(r.Context(), cfg, key)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if existed {
		writeJSON(w, http.StatusOK, s)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+s.ID)
	writeJSON(w, http.StatusCreated, s)
}

// maxLimit bounds one page of jobs.
const maxLimit = 500

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := ListFilter{MeetingURL: q.Get("meetingUrl"), Cursor: q.Get("cursor"), Limit: 50}
	var bad []FieldProblem
	if s := q.Get("state"); s != "" {
		switch ph := jobstate.Phase(s); ph {
		case jobstate.Starting, jobstate.Running, jobstate.Stopping, jobstate.Stopped, jobstate.Failed:
			f.State = ph
		default:
			bad = append(bad, FieldProblem{Field: "state", Message: "one of starting, running, stopping, stopped, failed"})
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			bad = append(bad, FieldProblem{Field: "limit", Message: "a whole number from 1 to 500"})
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "invalid query", Fields: bad})
		return
	}
	page, err := a.opts.Service.Jobs(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if page.Jobs == nil {
		page.Jobs = []jobstate.State{}
	}
	writeJSON(w, http.StatusOK, page)
}

// pathID returns the {id} of the route, answering 404 for one that cannot
// name a job.
func pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !jobID.MatchString(id) {
		writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no job " + strconv.Quote(id)})
		return "", false
	}
	return id, true
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	s, err := a.opts.Service.Job(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *API) stopJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	wait := false
	if s := r.URL.Query().Get("wait"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "invalid query", Fields: []FieldProblem{{Field: "wait", Message: "true or false"}}})
			return
		}
		wait = v
	}
	s, err := a.opts.Service.StopJob(r.Context(), id, wait)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusAccepted
	if s.State == jobstate.Stopped || s.State == jobstate.Failed {
		status = http.StatusOK
	}
	writeJSON(w, status, s)
}

func (a *API) patchJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	b, p := readBody(w, r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var patch Patch
	if p := decodeStrict(b, &patch); p != nil {
		writeProblem(w, p)
		return
	}
	if patch.Layout == nil && len(patch.AddRTMPURLs) == 0 && len(patch.RemoveRTMPURLs) == 0 {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig,
			Message: "nothing to change: give layout, addRtmpUrls or removeRtmpUrls"})
		return
	}
	if patch.Layout != nil {
		if _, err := patch.Layout.Resolve(); err != nil {
			writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig,
				Message: err.Error(), Fields: []FieldProblem{{Field: "layout", Message: err.Error()}}})
			return
		}
	}
	s, err := a.opts.Service.PatchJob(r.Context(), id, patch)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}
