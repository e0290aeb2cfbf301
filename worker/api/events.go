package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Server-Sent Events timing: a comment line keeps proxies from closing an
// idle stream, and each write has its own deadline, since the server's
// write timeout would end a stream that is meant to last.
const (
	sseKeepalive     = 15 * time.Second
	sseWriteDeadline = 10 * time.Second
)

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var after uint64
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeProblem(w, &Problem{Status: http.StatusUnprocessableEntity, Code: CodeInvalidQuery, Message: "Last-Event-ID: an event id from this stream"})
			return
		}
		after = n
	}
	evs, err := a.opts.Service.Events(r.Context(), id, after)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteDeadline))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": roomcast events of job %s\n\n", id) {
		return
	}
	tick := time.NewTicker(sseKeepalive)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				return
			}
			frame, err := sseFrame(ev)
			if err != nil {
				a.log.Warn("encoding an event", "job", id, "err", err)
				continue
			}
			if !write("%s", frame) {
				return
			}
		case <-tick.C:
			if !write(": keepalive\n\n") {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
