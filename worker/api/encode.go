package api

import (
	"encoding/json"
	"errors"
	"strings"
)

// encodeEvent writes an event for an SSE data field, which a line break
// would end: encoding/json escapes them inside strings and compacts raw
// messages, so only the type needs a check.
func encodeEvent(ev Event) ([]byte, error) {
	if strings.ContainsAny(ev.Type, "\r\n") {
		return nil, errors.New("event type with a line break")
	}
	return json.Marshal(ev)
}
