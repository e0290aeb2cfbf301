package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseSSE reads frames as the Server-Sent Events specification says, and
// shares nothing with the encoder: fields end at LF, CR or CRLF, one space
// after the colon is dropped, data lines join with LF, a blank line ends
// an event.
func parseSSE(b []byte) (events []map[string]string) {
	cur := map[string]string{}
	text := strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\r", "\n")
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			if len(cur) > 0 {
				events = append(events, cur)
				cur = map[string]string{}
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		if name == "data" {
			if old, ok := cur["data"]; ok {
				value = old + "\n" + value
			}
		}
		cur[name] = value
	}
	return events
}

func TestSSEFrame(t *testing.T) {
	ts := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		ev   Event
		ok   bool
	}{
		{"plain", Event{Seq: 7, Type: "jobStateUpdated", Time: ts, Data: json.RawMessage(`{"id":"a"}`)}, true},
		{"data with line breaks inside strings", Event{Seq: 1, Type: "failover", Time: ts, Data: json.RawMessage("{\"m\":\"a\\nb\",\n\"n\": 1}")}, true},
		{"type with a line break", Event{Seq: 2, Type: "a\nb", Time: ts, Data: json.RawMessage(`{}`)}, false},
		{"type with a carriage return", Event{Seq: 2, Type: "a\rdata: x", Time: ts, Data: json.RawMessage(`{}`)}, false},
		{"data that is not JSON", Event{Seq: 3, Type: "x", Time: ts, Data: json.RawMessage(`{`)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			frame, err := sseFrame(c.ev)
			if (err == nil) != c.ok {
				t.Fatalf("sseFrame: %v, want ok %v", err, c.ok)
			}
			if err == nil {
				checkFrame(t, c.ev, frame)
			}
		})
	}
}

func checkFrame(t *testing.T, ev Event, frame []byte) {
	t.Helper()
	evs := parseSSE(frame)
	if len(evs) != 1 {
		t.Fatalf("%q parses as %d events, want 1", frame, len(evs))
	}
	got := evs[0]
	if got["id"] != strconv.FormatUint(ev.Seq, 10) || got["event"] != ev.Type {
		t.Fatalf("id %q event %q, want %d %q", got["id"], got["event"], ev.Seq, ev.Type)
	}
	var body struct {
		Type string          `json:"type"`
		Time time.Time       `json:"timestamp"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(got["data"]), &body); err != nil {
		t.Fatalf("data %q: %v", got["data"], err)
	}
	// The same JSON value, if not the same bytes (encoding/json escapes
	// <, > and & in strings).
	if body.Type != ev.Type || !body.Time.Equal(ev.Time) || !reflect.DeepEqual(jsonValue(t, body.Data), jsonValue(t, ev.Data)) {
		t.Fatalf("data round-trips as %+v, want %q %v %s", body, ev.Type, ev.Time, ev.Data)
	}
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}

// FuzzSSEFrame: any event either refuses to encode, or becomes exactly one
// SSE event that an independent parser reads back whole.
func FuzzSSEFrame(f *testing.F) {
	f.Add(uint64(1), "jobStateUpdated", int64(0), []byte(`{"id":"job_1","state":"running"}`))
	f.Add(uint64(18446744073709551615), "failover", int64(1764662400), []byte("[\"a\\u2028b\", \"\\n\"]"))
	f.Add(uint64(0), "x\ny", int64(-1), []byte(`null`))
	f.Add(uint64(5), ": comment", int64(99), []byte(`"data: \n\n"`))
	f.Fuzz(func(t *testing.T, seq uint64, typ string, unix int64, data []byte) {
		if unix < -62135596800 || unix > 253402300799 {
			return // years outside 0..9999 do not marshal: not an event the service makes
		}
		ev := Event{Seq: seq, Type: typ, Time: time.Unix(unix, 0).UTC(), Data: json.RawMessage(data)}
		frame, err := sseFrame(ev)
		if err != nil {
			if json.Valid(data) && validType(typ) {
				t.Fatalf("a valid event refused: %v", err)
			}
			return
		}
		if strings.ContainsAny(typ, "\r\n") {
			t.Fatalf("type %q with a line break was encoded", typ)
		}
		checkFrame(t, ev, frame)
	})
}
