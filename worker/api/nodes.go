package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Node is one node of the service, as GET /v1/nodes lists it. A service
// that runs alone lists itself, with an empty name.
type Node struct {
	Name string `json:"name"`
	// Capacity, Used and Free are CPU cores, from the cost model.
	Capacity float64 `json:"capacity"`
	Used     float64 `json:"used"`
	Free     float64 `json:"free"`
	Jobs     int     `json:"jobs"`
	Draining bool    `json:"draining"`
	// StartedAt is the node's start; Heartbeat its last one.
	StartedAt time.Time `json:"startedAt"`
	Heartbeat time.Time `json:"heartbeat"`
}

// File is an output file of a job on another node, opened for reading.
type File interface {
	io.ReadSeekCloser
	Info() FileInfo
}

// FleetService is implemented by a Service that knows its nodes: the
// nodes routes, and job files on whichever node holds them.
type FleetService interface {
	Nodes(ctx context.Context) ([]Node, error)
	// Drain makes the node take no new jobs; with migrate its jobs
	// continue on other nodes, otherwise they run to their end.
	Drain(ctx context.Context, node string, migrate bool) (Node, error)
	// Files lists the job's files on every node that holds some, each
	// with its node.
	Files(ctx context.Context, id string) ([]FileInfo, error)
	// OpenFile opens a file of the job that this node does not hold.
	OpenFile(ctx context.Context, id, path string) (File, error)
}

func (a *API) fleet(w http.ResponseWriter) (FleetService, bool) {
	f, ok := a.opts.Service.(FleetService)
	if !ok {
		writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this service has no nodes"})
	}
	return f, ok
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) {
	f, ok := a.fleet(w)
	if !ok {
		return
	}
	nodes, err := f.Nodes(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
}

func (a *API) drainNode(w http.ResponseWriter, r *http.Request) {
	f, ok := a.fleet(w)
	if !ok {
		return
	}
	migrate := false
	if s := r.URL.Query().Get("migrate"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "invalid query",
				Fields: []FieldProblem{{Field: "migrate", Message: "true or false"}}})
			return
		}
		migrate = v
	}
	name := r.PathValue("name")
	if name == "-" {
		name = "" // a service that runs alone
	}
	n, err := f.Drain(r.Context(), name, migrate)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}
