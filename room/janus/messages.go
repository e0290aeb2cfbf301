package janus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// What Janus sends: replies to requests and events from the long poll,
// decoded into only the fields the connector reads.

// id is a Janus identifier: a number, or a string in rooms made with
// string_ids. It is kept as text either way.
type id string

func (i *id) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*i = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*i = id(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		if _, err := strconv.ParseUint(n.String(), 10, 64); err != nil {
			return fmt.Errorf("janus: id %s is not an unsigned integer", n)
		}
		*i = id(n.String())
	}
	return nil
}

// value is the id as JSON wants it in a request: a number when it is one.
func (i id) value() any {
	if n, err := strconv.ParseUint(string(i), 10, 64); err == nil {
		return n
	}
	return string(i)
}

// message is one reply or event.
type message struct {
	Janus       string `json:"janus"`
	Transaction string `json:"transaction"`
	SessionID   id     `json:"session_id"`
	Sender      id     `json:"sender"`
	Data        *struct {
		ID id `json:"id"`
	} `json:"data"`
	Error *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	PluginData *struct {
		Plugin string          `json:"plugin"`
		Data   json.RawMessage `json:"data"`
	} `json:"plugindata"`
	JSEP   *jsep  `json:"jsep"`
	Reason string `json:"reason"` // hangup
	Media  string `json:"type"`   // media events: "audio" or "video"
}

type jsep struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// videoroom is VideoRoom's plugin data, for every request and event the
// connector sees.
type videoroom struct {
	Videoroom    string        `json:"videoroom"`
	Room         id            `json:"room"`
	ErrorCode    int           `json:"error_code"`
	Error        string        `json:"error"`
	ID           id            `json:"id"`
	Participants []participant `json:"participants"`
	Streams      []subStream   `json:"streams"`
	Publishers   []participant `json:"publishers"`
	Exists       *bool         `json:"exists"`
	Configured   string        `json:"configured"`
	Started      string        `json:"started"`
	Leaving      *id           `json:"leaving"`
	Unpublished  *id           `json:"unpublished"`
}

type participant struct {
	ID        id     `json:"id"`
	Display   string `json:"display"`
	Publisher bool   `json:"publisher"`
	Talking   bool   `json:"talking"`
}

// subStream is a stream of the subscription, as "attached" and "updated"
// describe it.
type subStream struct {
	Type            string `json:"type"`
	Active          *bool  `json:"active"`
	Mid             string `json:"mid"`
	FeedID          id     `json:"feed_id"`
	FeedMid         string `json:"feed_mid"`
	FeedDisplay     string `json:"feed_display"`
	FeedDescription string `json:"feed_description"`
	Codec           string `json:"codec"`
	Disabled        bool   `json:"disabled"`
}

// active reports whether the stream carries media: Janus marks a stopped
// or removed one inactive and keeps its m-line for reuse.
func (s subStream) active() bool {
	return (s.Active == nil || *s.Active) && !s.Disabled && s.FeedID != ""
}

// parseMessages decodes a long poll's answer, one message or an array of
// them (with maxev).
func parseMessages(b []byte) ([]message, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("janus: empty answer")
	}
	if b[0] == '[' {
		var ms []message
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, fmt.Errorf("janus: bad events: %w", err)
		}
		return ms, nil
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("janus: bad event: %w", err)
	}
	return []message{m}, nil
}

// videoroomData decodes a message's VideoRoom data; nil when it has none.
func (m *message) videoroomData() (*videoroom, error) {
	if m.PluginData == nil || len(m.PluginData.Data) == 0 {
		return nil, nil
	}
	var v videoroom
	if err := json.Unmarshal(m.PluginData.Data, &v); err != nil {
		return nil, fmt.Errorf("janus: bad videoroom data: %w", err)
	}
	return &v, nil
}
