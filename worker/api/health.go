package api

import "net/http"

type health struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, health{Status: "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	if err := a.opts.Service.Ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", Reason: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, health{Status: "ready"})
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request) {
	if len(a.opts.OpenAPI) == 0 {
		writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no OpenAPI document in this build"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.opts.OpenAPI)
}

func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	if a.opts.Metrics == nil {
		writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "metrics are not enabled"})
		return
	}
	a.opts.Metrics.ServeHTTP(w, r)
}
