package api

import (
	"net/http"
	"strconv"
)

func (a *API) roomState(w http.ResponseWriter, r *http.Request) {
	u := r.URL.Query().Get("meetingUrl")
	if u == "" {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "meetingUrl is required",
			Fields: []FieldProblem{{Field: "meetingUrl", Message: "the room, as given when its jobs started"}}})
		return
	}
	s, err := a.opts.Service.RoomState(r.Context(), u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if s.Jobs == nil {
		s.Jobs = []string{}
	}
	writeJSON(w, http.StatusOK, s)
}

func (a *API) stopRoom(w http.ResponseWriter, r *http.Request) {
	b, p := readBody(w, r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var body struct {
		MeetingURL string `json:"meetingUrl"`
	}
	if p := decodeStrict(b, &body); p != nil {
		writeProblem(w, p)
		return
	}
	if body.MeetingURL == "" {
		writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidConfig, Message: "meetingUrl is required",
			Fields: []FieldProblem{{Field: "meetingUrl", Message: "required"}}})
		return
	}
	page, err := a.opts.Service.StopRoom(r.Context(), body.MeetingURL)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, page)
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) {
	failed := false
	if s := r.URL.Query().Get("failed"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "invalid query", Fields: []FieldProblem{{Field: "failed", Message: "true or false"}}})
			return
		}
		failed = v
	}
	ds, err := a.opts.Service.Deliveries(r.Context(), failed)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if ds == nil {
		ds = []Delivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.opts.Service.RetryDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}
