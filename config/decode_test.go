package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		in     string
		want   Job      // checked when wantErr is nil
		errs   []string // substrings of the error, in problem order
		syntax bool     // the error is a *SyntaxError, not an *Error
	}{
		{"yaml", YAML, "meetingUrl: \"demo:\"\nrecord: true\nresolution: 640x360\nfps: 25\nrtmpUrls: [rtmp://h/live/k]\n",
			Job{MeetingURL: "demo:", Record: true, Resolution: Resolution{640, 360}, FPS: 25, RTMPURLs: []string{"rtmp://h/live/k"}}, nil, false},
		{"json", JSON, `{"meetingUrl":"demo:","record":true,"resolution":{"width":720,"height":1280},"maxDuration":"10s","videoBitrate":"3M"}`,
			Job{MeetingURL: "demo:", Record: true, Resolution: Resolution{720, 1280}, MaxDuration: Duration(10 * time.Second), VideoBitrate: 3_000_000}, nil, false},
		{"json other case", JSON, `{"MeetingURL":"demo:","RECORD":true}`, Job{MeetingURL: "demo:", Record: true}, nil, false},
		{"yaml null", YAML, "~\n", Job{}, nil, false},
		{"json null", JSON, " null ", Job{}, nil, false},
		{"yaml comments only", YAML, "# nothing\n", Job{}, []string{"empty"}, true},
		{"yaml typo", YAML, "meetingUrl: demo\nrecrod: true\n", Job{}, []string{`unknown field "recrod"`, "known: id, meetingUrl"}, false},
		{"json typo", JSON, `{"meetingUrl":"demo:","recrod":true}`, Job{}, []string{`unknown field "recrod"`}, false},
		{"every bad field at once", YAML, "fps: many\nresolution: huge\nmaxDuration: soon\nvideoBitrate: fast\n", Job{},
			[]string{"fps: line 1:", "resolution: line 2:", "WIDTHxHEIGHT", "maxDuration: line 3:", "not a duration", "videoBitrate: line 4:", "not a bitrate"}, false},
		{"json types", JSON, `{"fps":"many","record":"yes","rtmpUrls":"rtmp://h/l/k"}`, Job{},
			[]string{"fps: json: cannot unmarshal", "record: json: cannot unmarshal", "rtmpUrls: json: cannot unmarshal"}, false},
		{"yaml twice", YAML, "fps: 25\nfps: 30\n", Job{}, []string{"fps: given twice (line 1 and line 2)"}, false},
		{"json twice", JSON, `{"fps":25,"FPS":30}`, Job{}, []string{`fps: given twice (as "fps" and as "FPS")`}, false},
		{"yaml resolution typo", YAML, "resolution: {width: 640, hieght: 360}\n", Job{}, []string{`resolution: line 1: unknown field "hieght"`}, false},
		{"json resolution typo", JSON, `{"resolution":{"width":640,"hieght":360}}`, Job{}, []string{"resolution:", `unknown field "hieght"`}, false},
		{"yaml merge key", YAML, "base: &b {fps: 25}\n<<: *b\n", Job{}, []string{`unknown field "base"`, "key at line 2 is not a field name"}, false},
		{"nan bitrate", YAML, "videoBitrate: NaN\n", Job{}, []string{"videoBitrate:", `"NaN" is not a bitrate`}, false},
		{"huge duration", JSON, `{"maxDuration":1e300}`, Job{}, []string{"maxDuration:", "out of range"}, false},
		{"yaml list", YAML, "- fps: 25\n", Job{}, []string{"line 1: the top level is not a mapping"}, true},
		{"json list", JSON, `[{"meetingUrl":"demo:"}]`, Job{}, []string{"the top level is [, not an object"}, true},
		{"json trailing", JSON, `{"record":true} {"hls":true}`, Job{}, []string{"more text after the job object"}, true},
		{"json broken", JSON, `{"record":tru}`, Job{}, []string{"invalid character"}, true},
		{"yaml broken", YAML, "record: [true\n", Job{}, []string{"yaml: line"}, true},
		{"json empty", JSON, "", Job{}, []string{"not a JSON job document: empty"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var j Job
			err := Decode([]byte(tc.in), tc.format, &j)
			if tc.errs == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if !reflect.DeepEqual(j, tc.want) {
					t.Fatalf("decoded %+v, want %+v", j, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %+v; want an error with %q", j, tc.errs)
			}
			var se *SyntaxError
			if errors.As(err, &se) != tc.syntax {
				t.Errorf("error %T (%v): syntax error = %v, want %v", err, err, !tc.syntax, tc.syntax)
			}
			at := 0
			for _, w := range tc.errs {
				i := strings.Index(err.Error()[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q after offset %d", err, w, at)
				}
				at += i + len(w)
			}
		})
	}
}

func TestDecodeMerges(t *testing.T) {
	j := Job{MeetingURL: "demo:", FPS: 25, RTMPURLs: []string{"rtmp://a/l/k1", "rtmp://a/l/k2"}}
	if err := Decode([]byte("fps: 30\nrtmpUrls: [rtmp://b/l/k]\n"), YAML, &j); err != nil {
		t.Fatal(err)
	}
	if j.MeetingURL != "demo:" || j.FPS != 30 || !slices.Equal(j.RTMPURLs, []string{"rtmp://b/l/k"}) {
		t.Fatalf("merge: %+v", j)
	}
}

func TestFieldNames(t *testing.T) {
	typ := reflect.TypeFor[Job]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		js, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ym, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if js == "" || js != ym {
			t.Errorf("Job.%s: json name %q and yaml name %q must be set and equal", f.Name, js, ym)
		}
	}
}

// TestExamples keeps the example job files loadable and valid.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("testdata/examples/*")
	if len(files) < 4 {
		t.Fatalf("only %d examples", len(files))
	}
	for _, p := range files {
		var j Job
		if err := LoadFile(p, &j); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		j.ApplyDefaults()
		if err := j.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"stream.yaml", "extensions.json"} {
		data, err := os.ReadFile(filepath.Join("testdata/examples", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var j Job
				if err := Decode(data, FormatOf(name), &j); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzJobConfigYAML(f *testing.F) { fuzzJobConfig(f, YAML) }
func FuzzJobConfigJSON(f *testing.F) { fuzzJobConfig(f, JSON) }

// fuzzJobConfig checks, for any document: no panic; an error is either a
// *SyntaxError or an *Error whose every problem names a field; a document
// that decodes to a valid job survives a round trip through both formats,
// before and after defaults; and the validation errors name a field too.
func fuzzJobConfig(f *testing.F, format Format) {
	files, _ := filepath.Glob("testdata/examples/*")
	for _, p := range files {
		if FormatOf(p) == format {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var j Job
		err := Decode(data, format, &j)
		if err != nil {
			var se *SyntaxError
			var ce *Error
			switch {
			case errors.As(err, &se):
			case errors.As(err, &ce):
				checkProblems(t, ce)
			default:
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		valid := j
		valid.ApplyDefaults()
		if err := valid.Validate(); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("validation error of type %T: %v", err, err)
			}
			checkProblems(t, ce)
			return
		}
		roundTrip(t, j)
		roundTrip(t, valid)
	})
}

// checkProblems asserts that each problem starts with the field it is about
// (rtmpUrls[1] counts as rtmpUrls), or is about the key itself, or is the one
// problem of the whole job ("nothing to do"), which lists its fields.
func checkProblems(t *testing.T, e *Error) {
	t.Helper()
	if len(e.Problems) == 0 {
		t.Fatal("an *Error without problems")
	}
	names := FieldNames()
	for _, p := range e.Problems {
		lead := p[:strings.IndexAny(p+":", ":[ ")]
		switch {
		case slices.Contains(names, lead):
		case strings.HasPrefix(p, "unknown field "), strings.HasPrefix(p, "key at line "):
		case strings.HasPrefix(p, "nothing to do: set record, give rtmpUrls"):
		default:
			t.Fatalf("problem %q does not start with a field name", p)
		}
	}
}

func roundTrip(t *testing.T, j Job) {
	t.Helper()
	for _, format := range []Format{JSON, YAML} {
		var data []byte
		var err error
		if format == JSON {
			data, err = json.Marshal(j)
		} else {
			data, err = yaml.Marshal(j)
		}
		if err != nil {
			t.Fatalf("marshal %s: %v", format, err)
		}
		var back Job
		if err := Decode(data, format, &back); err != nil {
			t.Fatalf("%s of %+v does not load: %v\n%s", format, j, err, data)
		}
		if !sameJob(j, back) {
			t.Fatalf("%s round trip:\n got %+v\nwant %+v\n%s", format, back, j, data)
		}
	}
}

// sameJob is equality, except that no URLs is no URLs (omitempty writes an
// empty list as nothing).
func sameJob(a, b Job) bool {
	if len(a.RTMPURLs) == 0 && len(b.RTMPURLs) == 0 {
		a.RTMPURLs, b.RTMPURLs = nil, nil
	}
	return reflect.DeepEqual(a, b)
}
