package config

import (
	"encoding/json"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestLayoutNameOrDocument(t *testing.T) {
	doc := `{"video_layout":{"main":{"video_sources":["*"],"max_columns":2}}}`
	for _, tc := range []struct {
		name, json, yaml string
		isDoc            bool
		wantErr          string
	}{
		{name: "preset", json: `{"meetingUrl":"demo:","record":true,"layout":"speaker"}`, yaml: "meetingUrl: \"demo:\"\nrecord: true\nlayout: speaker\n"},
		{name: "alias", json: `{"meetingUrl":"demo:","record":true,"layout":"screen"}`, yaml: "meetingUrl: \"demo:\"\nrecord: true\nlayout: screen\n"},
		{name: "document", json: `{"meetingUrl":"demo:","record":true,"layout":` + doc + `}`,
			yaml: "meetingUrl: \"demo:\"\nrecord: true\nlayout:\n  video_layout:\n    main:\n      video_sources: ['*']\n      max_columns: 2\n", isDoc: true},
		{name: "unknown preset", json: `{"meetingUrl":"demo:","record":true,"layout":"mosaic"}`, yaml: "meetingUrl: \"demo:\"\nrecord: true\nlayout: mosaic\n", wantErr: `layout: "mosaic" is unknown`},
		{name: "bad document field", json: `{"meetingUrl":"demo:","record":true,"layout":{"video_layout":{"main":{"x_poss":1}}}}`,
			yaml: "meetingUrl: \"demo:\"\nrecord: true\nlayout:\n  video_layout:\n    main:\n      x_poss: 1\n", isDoc: true, wantErr: "x_poss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dec := range []struct {
				kind string
				do   func(*Job) error
			}{
				{"json", func(j *Job) error { return json.Unmarshal([]byte(tc.json), j) }},
				{"yaml", func(j *Job) error { return yaml.Unmarshal([]byte(tc.yaml), j) }},
			} {
				var j Job
				if err := dec.do(&j); err != nil {
					t.Fatalf("%s: %v", dec.kind, err)
				}
				if j.Layout.IsDocument() != tc.isDoc {
					t.Errorf("%s: layout %q, document %t", dec.kind, j.Layout, tc.isDoc)
				}
				j.ApplyDefaults()
				err := j.Validate()
				if tc.wantErr == "" && err != nil {
					t.Errorf("%s: %v", dec.kind, err)
				}
				if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Errorf("%s: error %v, want %q", dec.kind, err, tc.wantErr)
				}
				// Round trip: a document stays an object, a name a string.
				b, _ := json.Marshal(j)
				var back Job
				if err := json.Unmarshal(b, &back); err != nil || back.Layout != j.Layout {
					t.Errorf("%s: round trip %s: %v", dec.kind, b, err)
				}
			}
		})
	}
}

// A document's key order survives YAML, both ways: regions are in
// document order.
func TestLayoutKeepsOrder(t *testing.T) {
	in := "meetingUrl: \"demo:\"\nrecord: true\nlayout:\n  video_layout:\n    zeta: {video_sources: ['a*']}\n    alpha: {video_sources: ['*']}\n"
	var j Job
	if err := yaml.Unmarshal([]byte(in), &j); err != nil {
		t.Fatal(err)
	}
	want := `{"video_layout":{"zeta":{"video_sources":["a*"]},"alpha":{"video_sources":["*"]}}}`
	if string(j.Layout) != want {
		t.Fatalf("layout %s, want %s", j.Layout, want)
	}
	out, err := yaml.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back Job
	if err := yaml.Unmarshal(out, &back); err != nil || back.Layout != j.Layout {
		t.Errorf("YAML round trip: %s gave %q (%v)", out, back.Layout, err)
	}
}
