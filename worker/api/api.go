package api

import (
	"log/slog"
	"net/http"
)

// MaxBody bounds a request body; a larger one answers 413.
const MaxBody = 64 << 10

// Options configure the API.
type Options struct {
	Service Service
	Tokens  Tokens
	// Metrics serves /metrics; nil answers 404 there.
	Metrics http.Handler
	// MetricsPublic serves /metrics without a token.
	MetricsPublic bool
	// OpenAPI is the document served at /v1/openapi.json.
	OpenAPI []byte
	Logger  *slog.Logger
}

// API is the service's HTTP handler.
type API struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// Route is one entry of the route table.
type Route struct {
	Method, Pattern string
	// Public routes need no token.
	Public  bool
	handler http.HandlerFunc
}

// New returns the API's handler.
func New(opts Options) *API {
	a := &API{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range a.Routes() {
		h := http.Handler(r.handler)
		if !r.Public {
			h = a.authorized(h)
		}
		a.mux.Handle(r.Method+" "+r.Pattern, h)
	}
	// Anything else: a JSON 404 (and 401 first, so that the API's shape
	// is not told to strangers).
	a.mux.Handle("/", a.authorized(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, &Problem{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such route: " + r.Method + " " + r.URL.Path})
	})))
	return a
}

// Routes is the route table.
func (a *API) Routes() []Route {
	return []Route{
		{"POST", "/v1/jobs", false, a.startJob},
		{"GET", "/v1/jobs", false, a.listJobs},
		{"GET", "/v1/jobs/{id}", false, a.getJob},
		{"DELETE", "/v1/jobs/{id}", false, a.stopJob},
		{"PATCH", "/v1/jobs/{id}", false, a.patchJob},
		{"GET", "/v1/jobs/{id}/events", false, a.events},
		{"GET", "/v1/jobs/{id}/files", false, a.listFiles},
		{"GET", "/v1/jobs/{id}/files/{path...}", false, a.getFile},
		{"GET", "/hls/{id}/{path...}", false, a.liveHLS},
		{"GET", "/v1/rooms/state", false, a.roomState},
		{"POST", "/v1/rooms/stop", false, a.stopRoom},
		{"GET", "/v1/nodes", false, a.listNodes},
		{"POST", "/v1/nodes/{name}/drain", false, a.drainNode},
		{"GET", "/v1/webhooks/deliveries", false, a.deliveries},
		{"POST", "/v1/webhooks/deliveries/{id}/retry", false, a.retryDelivery},
		{"GET", "/v1/openapi.json", false, a.openAPI},
		{"GET", "/metrics", a.opts.MetricsPublic, a.metrics},
		{"GET", "/healthz", true, a.healthz},
		{"GET", "/readyz", true, a.readyz},
	}
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) authorized(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.opts.Tokens.Valid(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="roomcast"`)
			writeProblem(w, &Problem{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "a valid bearer token is required (Authorization: Bearer TOKEN)"})
			return
		}
		h.ServeHTTP(w, r)
	})
}
