package rtmp

import (
	"bytes"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestAMFRoundTrip(t *testing.T) {
	t.Parallel()
	b := amfEncode(nil, "onStatus", 0, nil, amfObj{{"level", "error"}, {"code", "NetStream.Publish.BadName"},
		{"description", "Already publishing"}, {"n", 2.5}, {"ok", true}}, amfECMA{{"width", 320}})
	vals, err := amfDecodeAll(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"onStatus", 0.0, nil,
		map[string]any{"level": "error", "code": "NetStream.Publish.BadName", "description": "Already publishing", "n": 2.5, "ok": true},
		map[string]any{"width": 320.0}}
	if !reflect.DeepEqual(vals, want) {
		t.Errorf("got %#v\nwant %#v", vals, want)
	}
	// Truncated input must fail cleanly, never panic.
	for i := range b {
		_, _ = amfDecodeAll(b[:i])
	}
}

// TestAMFDecode covers the markers servers send that we never encode.
func TestAMFDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    []any
		wantErr bool
	}{
		{"undefined", []byte{amfUndefined}, []any{nil}, false},
		{"long string", []byte{amfLongString, 0, 0, 0, 2, 'h', 'i'}, []any{"hi"}, false},
		{"xml document", []byte{amfXMLDocument, 0, 0, 0, 1, 'x'}, []any{"x"}, false},
		{"date", []byte{amfDate, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []any{2.0}, false},
		{"strict array", []byte{amfStrictArray, 0, 0, 0, 2, amfBoolean, 1, amfNull}, []any{[]any{true, nil}}, false},
		{"typed object", []byte{amfTypedObject, 0, 1, 'T', 0, 1, 'k', amfBoolean, 0, 0, 0, amfObjectEnd}, []any{map[string]any{"k": false}}, false},
		{"ecma array", []byte{amfECMAArray, 0, 0, 0, 9, 0, 0, amfObjectEnd}, []any{map[string]any{}}, false},
		{"unknown marker", []byte{0x11}, nil, true},
		{"strict array longer than its input", []byte{amfStrictArray, 0xff, 0xff, 0xff, 0xff, amfNull}, nil, true},
		{"long string longer than its input", []byte{amfLongString, 0xff, 0xff, 0xff, 0xff, 'a'}, nil, true},
		{"object without end", []byte{amfObject, 0, 1, 'k', amfNull}, nil, true},
		{"nested too deep", bytes.Repeat([]byte{amfStrictArray, 0, 0, 0, 1}, 40), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := amfDecodeAll(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// FuzzAMF0 decodes arbitrary bytes: no panic, nesting within the bound, and
// whatever decodes encodes to bytes that decode to the same values.
func FuzzAMF0(f *testing.F) {
	f.Add(amfEncode(nil, "_result", 1, amfObj{{"fmsVer", "FMS/3,0,1,123"}, {"capabilities", 31}},
		amfObj{{"level", "status"}, {"code", "NetConnection.Connect.Success"}, {"objectEncoding", 0}}))
	f.Add(amfEncode(nil, "onStatus", 0, nil, amfObj{{"level", "error"}, {"code", "NetStream.Publish.BadName"}}))
	f.Add(amfEncode(nil, "@setDataFrame", "onMetaData", amfECMA{{"width", 1280}, {"stereo", true}}))
	f.Add([]byte{amfStrictArray, 0, 0, 0, 2, amfDate, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, amfTypedObject, 0, 1, 'T', 0, 0, amfObjectEnd})
	f.Add([]byte{amfLongString, 0, 0, 0, 1, 'a', amfXMLDocument, 0, 0, 0, 0, amfUndefined})

	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := amfDecodeAll(data)
		for _, v := range vals {
			if d := amfDepth(v); d > amfMaxDepth+2 {
				t.Fatalf("value nested %d deep", d)
			}
		}
		if err != nil {
			return
		}
		enc := amfEncode(nil, amfEncodable(vals)...)
		again, err := amfDecodeAll(enc)
		if err != nil {
			t.Fatalf("re-encoded values do not decode: %v\n% x", err, enc)
		}
		if !amfEqual(vals, again) {
			t.Fatalf("round trip changed the values:\n%#v\n%#v", vals, again)
		}
	})
}

// amfEncodable turns decoded values into ones amfEncode takes: objects with
// their keys sorted, so the encoding is reproducible.
func amfEncodable(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case map[string]any:
			obj := amfObj{}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				obj = append(obj, amfProp{k, amfEncodable([]any{v[k]})[0]})
			}
			out[i] = obj
		case []any:
			out[i] = amfEncodable(v)
		default:
			out[i] = v
		}
	}
	return out
}

// amfEqual is reflect.DeepEqual with numbers compared by their bits, so that
// a NaN equals itself, and a nil array equals an empty one.
func amfEqual(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !amfEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !amfEqual(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// amfDepth is how deep v nests objects and arrays.
func amfDepth(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, amfDepth(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range v {
			d = max(d, amfDepth(e))
		}
		return d + 1
	}
	return 0
}
