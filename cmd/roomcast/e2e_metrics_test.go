package main

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one /metrics answer, parsed by Prometheus' own text parser.
type scrape map[string]*dto.MetricFamily

// metrics scrapes serve's /metrics, with the token unless public.
func (s *serveEnv) metrics(public bool) scrape {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/metrics", nil)
	if !public {
		req.Header.Set("Authorization", "Bearer "+serveToken)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the sample of metric name whose labels include every k=v pair
// given as "k=v"; ok is false when there is none.
func (sc scrape) value(name string, labels ...string) (v float64, ok bool) {
	f := sc[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range labels {
			k, want, _ := strings.Cut(l, "=")
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == want {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// want checks that a sample exists and satisfies ok.
func (sc scrape) want(t *testing.T, what string, cond func(float64) bool, name string, labels ...string) {
	t.Helper()
	v, found := sc.value(name, labels...)
	if !found {
		t.Errorf("metric %s%v missing (%s)", name, labels, what)
		return
	}
	if !cond(v) {
		t.Errorf("metric %s%v = %g, want %s", name, labels, v, what)
	}
}

func positive(v float64) bool { return v > 0 }
func zero(v float64) bool     { return v == 0 }
func equals(n float64) func(float64) bool {
	return func(v float64) bool { return v == n }
}
