package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// encodeEvent writes an event for an SSE data field, which a line break
// would end: encoding/json escapes them inside strings and compacts raw
// messages, so only the type needs a check. A type is a name
// (jobStateUpdated, failover): it goes on the SSE event line as it is and
// in the JSON, so it must read the same in both.
func encodeEvent(ev Event) ([]byte, error) {
	if !validType(ev.Type) {
		return nil, fmt.Errorf("event type %q: want letters, digits, _, . or -", ev.Type)
	}
	return json.Marshal(ev)
}

func validType(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}) < 0
}

// sseFrame is one event as the stream writes it: its id (the sequence
// number), its type and its body on one data line, then the blank line that
// ends it.
func sseFrame(ev Event) ([]byte, error) {
	body, err := encodeEvent(ev)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(body)+len(ev.Type)+40)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Type...)
	b = append(b, "\ndata: "...)
	b = append(b, body...)
	return append(b, "\n\n"...), nil
}
