package api

import "net/http"

// liveHLS serves a running job's live HLS (its state's hlsStreaming.url),
// from the job's own process.
func (a *API) liveHLS(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	h, err := a.opts.Service.LiveHLS(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h.ServeHTTP(w, r)
}
