package janustest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// testClient is the smallest Janus HTTP client: it returns the data id of
// create and attach answers.
type testClient struct {
	s  *Server
	hc *http.Client
}

func newTestClient(s *Server) *testClient { return &testClient{s: s, hc: s.NS.HTTPClient()} }

func (c *testClient) post(ctx context.Context, path string, msg map[string]any) (uint64, error) {
	msg["transaction"] = randomHex(8)
	b, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.s.HTTPBase()+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Janus string `json:"janus"`
		Data  struct {
			ID uint64 `json:"id"`
		} `json:"data"`
		Error any `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Janus == "error" {
		return 0, fmt.Errorf("%s: %v", path, out.Error)
	}
	return out.Data.ID, nil
}
