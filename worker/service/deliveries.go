package service

// Webhook deliveries as the API lists them.

import (
	"context"
	"net/http"
	"strings"

	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/store"
)

// Deliveries implements api.Service: the failed ones; the outbox keeps no
// list of the others.
func (s *Service) Deliveries(ctx context.Context, _ bool) ([]api.Delivery, error) {
	fs, err := s.opts.Store.FailedDeliveries(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.Delivery{}
	for _, f := range fs {
		out = append(out, s.apiDelivery(f))
	}
	return out, nil
}

func (s *Service) apiDelivery(f store.FailedDelivery) api.Delivery {
	d := api.Delivery{ID: f.ID, JobID: f.JobID, Type: f.Type, Attempts: f.Attempt, Status: "failed"}
	if url, ok := s.webhookOf(f.ID); ok {
		d.URL = redactURL(url)
	}
	if f.Error != "" {
		e := f.Error
		d.LastError = &e
	}
	if !f.FailedAt.IsZero() {
		t := f.FailedAt.UTC()
		d.LastAttemptAt = &t
	}
	return d
}

// RetryDelivery implements api.Service.
func (s *Service) RetryDelivery(ctx context.Context, id string) (api.Delivery, error) {
	fs, err := s.opts.Store.FailedDeliveries(ctx)
	if err != nil {
		return api.Delivery{}, err
	}
	for _, f := range fs {
		if f.ID != id {
			continue
		}
		if err := s.opts.Store.Retry(ctx, id); err != nil {
			return api.Delivery{}, err
		}
		d := s.apiDelivery(f)
		d.Status = "pending"
		return d, nil
	}
	return api.Delivery{}, &api.Problem{Code: api.CodeNotFound, Message: "no failed delivery " + id}
}

// redactURL hides a webhook URL's credentials and query.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if req, err := http.NewRequest("GET", raw, nil); err == nil {
		return req.URL.Redacted()
	}
	return raw
}
