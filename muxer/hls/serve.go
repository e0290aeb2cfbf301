package hls

import (
	"net/http"
	"path"
	"strings"
	"time"
)

// Cache-Control values.
const (
	// Playlists change every part; init files keep their name when the
	// codec parameters change. Both must be revalidated on every use.
	cacheRevalidate = "no-cache"
	// Segment and part names carry a random per-session prefix and a
	// sequence number, so a name never gets other bytes: CDNs and browsers
	// may keep them.
	cacheImmutable = "public, max-age=3600, immutable"
	// Errors and "not yet" answers must not stick in a cache.
	cacheNone = "no-store"
)

// ServeHTTP implements http.Handler. It serves the stream's files by their
// base name relative to where it is mounted, e.g. with
//
//	mux.Handle("/hls/"+jobID+"/", http.StripPrefix("/hls/"+jobID, live))
//
// index.m3u8 is the multivariant playlist players start from.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setCORS(h, r)

	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		// CORS preflight (a player that sends Range or custom headers).
		h.Set("Access-Control-Max-Age", "86400")
		h.Set("Cache-Control", cacheNone)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed)
		return
	}

	name := strings.TrimPrefix(r.URL.Path, "/")
	kind := fileKind(name)
	if kind == kindNone {
		httpError(w, http.StatusNotFound)
		return
	}

	select {
	case <-l.done:
		httpError(w, http.StatusNotFound) // the stream has ended
		return
	default:
	}
	select {
	case <-l.ready:
	default:
		if kind != kindPlaylist {
			httpError(w, http.StatusNotFound)
			return
		}
		// A player that comes early waits for the first segment instead of
		// failing: gohlslib would wait too, but forever and deaf to the
		// client going away.
		t := time.NewTimer(l.readyWait)
		defer t.Stop()
		select {
		case <-l.ready:
		case <-l.done:
			httpError(w, http.StatusNotFound)
			return
		case <-r.Context().Done():
			return
		case <-t.C:
			h.Set("Retry-After", "1")
			httpError(w, http.StatusServiceUnavailable)
			return
		}
	}

	l.mu.Lock()
	m := l.hls
	l.mu.Unlock()

	cw := &cacheWriter{ResponseWriter: w, kind: kind}
	m.Handle(cw, r)
	if !cw.wrote {
		// gohlslib answers nothing at all for a name it does not know
		// (e.g. a segment that left the window).
		httpError(w, http.StatusNotFound)
	}
}

func setCORS(h http.Header, r *http.Request) {
	// The stream is public to whoever has the URL, and no cookies are
	// involved, so any origin may read it.
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "Range, Accept, Origin, Content-Type")
	}
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Content-Type, Date, Age")
}

func httpError(w http.ResponseWriter, code int) {
	w.Header().Set("Cache-Control", cacheNone)
	http.Error(w, http.StatusText(code), code)
}

type fileKindT int

const (
	kindNone fileKindT = iota
	kindPlaylist
	kindInit
	kindMedia
)

// fileKind classifies a request path by the names gohlslib gives its files;
// anything else, including a path with directories, is not ours.
func fileKind(name string) fileKindT {
	if name == "" || strings.Contains(name, "/") {
		return kindNone
	}
	switch path.Ext(name) {
	case ".m3u8":
		return kindPlaylist
	case ".mp4":
		if strings.HasSuffix(name, "_init.mp4") {
			return kindInit
		}
		return kindMedia
	case ".ts":
		return kindMedia
	}
	return kindNone
}

// cacheWriter replaces gohlslib's Cache-Control (30 s on the multivariant
// playlist and on init files) with roomcast's policy, and notes whether the
// wrapped handler answered at all.
type cacheWriter struct {
	http.ResponseWriter
	kind  fileKindT
	wrote bool
}

func (w *cacheWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	h := w.Header()
	switch {
	case code != http.StatusOK:
		h.Set("Cache-Control", cacheNone)
	case w.kind == kindMedia:
		h.Set("Cache-Control", cacheImmutable)
	default:
		h.Set("Cache-Control", cacheRevalidate)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cacheWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a blocking LL-HLS answer go out as soon as it is written.
func (w *cacheWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
