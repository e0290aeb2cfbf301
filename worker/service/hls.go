package service

// Live HLS: each job's process serves its own on a Unix socket; the
// service proxies /hls/ID/ to it.

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/roomcast/roomcast/worker/api"
)

// LiveHLS implements api.Service.
func (s *Service) LiveHLS(_ context.Context, id string) (http.Handler, error) {
	j := s.local(id)
	if j == nil || j.hls == nil {
		return nil, &api.Problem{Code: api.CodeNotFound, Message: "job " + id + " serves no live HLS here: it is not running, or was started without hls"}
	}
	return j.hls, nil
}

// hlsProxy forwards requests to the HTTP server on a job's Unix socket.
func hlsProxy(socket string) http.Handler {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "job"})
			// The job's token is serve's business, not the job's.
			r.Out.Header.Del("Authorization")
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", socket)
			},
			ResponseHeaderTimeout: 30 * time.Second, // a blocking playlist request waits for its part
			IdleConnTimeout:       time.Minute,
			MaxIdleConnsPerHost:   8,
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"code":"HLS_FAILED","message":"the job's live HLS did not answer"}`))
		},
	}
}
