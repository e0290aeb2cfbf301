package rtmp

import (
	"errors"
	"fmt"
)

// The command layer: AMF0 command messages, the ones a publisher sends
// (connect, releaseStream, FCPublish, createStream, publish, and
// FCUnpublish, deleteStream at the end) and the answers and status
// notifications a server sends back (_result, _error, onStatus,
// onFCPublish).

// Transaction ids of our commands, fixed because each is sent once per
// connection.
const (
	txConnect       = 1
	txReleaseStream = 2
	txFCPublish     = 3
	txCreateStream  = 4
	txPublish       = 5
	txFCUnpublish   = 6
	txDeleteStream  = 7
)

// command is a decoded AMF command message.
type command struct {
	name string
	tx   float64
	args []any // after the transaction id: command object, then arguments
}

// appendCommand appends the AMF0 body of a command message to b: name,
// transaction id, then args (the command object first).
func appendCommand(b []byte, name string, tx int, args ...any) []byte {
	b = amfEncode(b, name, tx)
	return amfEncode(b, args...)
}

// connectObject is the command object of connect, as FMLE sends it; the
// flashVer is what some ingests look at to accept an encoder.
func connectObject(t *target) amfObj {
	return amfObj{
		{"app", t.app},
		{"type", "nonprivate"},
		{"flashVer", "FMLE/3.0 (compatible; roomcast)"},
		{"tcUrl", t.tcURL},
	}
}

// parseCommand decodes an AMF0 (or AMF3-wrapped AMF0) command message.
func parseCommand(m *message) (*command, error) {
	p := m.payload
	if m.typ == msgAMF3Command && len(p) > 0 {
		p = p[1:] // AMF3 command messages start with a zero byte, then AMF0.
	}
	vals, err := amfDecodeAll(p)
	if len(vals) == 0 {
		if err == nil {
			err = errors.New("empty")
		}
		return nil, fmt.Errorf("decode command: %w", err)
	}
	// A command is name, transaction id, command object, arguments; some
	// servers send bare notifications (FFmpeg: onFCPublish with a name only).
	name, _ := vals[0].(string)
	var tx float64
	if len(vals) > 1 {
		tx, _ = vals[1].(float64)
	} else {
		vals = append(vals, nil)
	}
	return &command{name: name, tx: tx, args: vals[2:]}, nil
}

// isCommand tells the message types that carry commands.
func isCommand(m *message) bool {
	return m.typ == msgAMF0Command || m.typ == msgAMF3Command
}

// info returns the first object argument after the command object: where
// _result, _error and onStatus put their level, code and description.
func (c *command) info() map[string]any {
	for i, a := range c.args {
		if m, ok := a.(map[string]any); ok && (i > 0 || len(c.args) == 1) {
			return m
		}
	}
	return nil
}

// status formats the server's own words for an error message.
func (c *command) status() string {
	m := c.info()
	code, _ := m["code"].(string)
	desc, _ := m["description"].(string)
	switch {
	case code != "" && desc != "":
		return code + ": " + desc
	case code != "":
		return code
	case desc != "":
		return desc
	}
	return "no details given"
}

func (c *command) level() string {
	s, _ := c.info()["level"].(string)
	return s
}

func (c *command) code() string {
	s, _ := c.info()["code"].(string)
	return s
}

// isAnswer tells the _result or _error of our transaction tx.
func (c *command) isAnswer(tx int) bool {
	return c.tx == float64(tx) && (c.name == "_result" || c.name == "_error")
}

// isRefusal tells an error status the server may send at any point, such as
// an onFCPublish or onStatus at level "error".
func isRefusal(cmd *command) bool {
	return (cmd.name == "onStatus" || cmd.name == "onFCPublish") && cmd.level() == "error"
}

// isPublishAnswer tells the server's verdict on publish: the
// NetStream.Publish.Start that confirms it, or any refusal.
func isPublishAnswer(cmd *command) bool {
	return cmd.name == "onStatus" && (cmd.code() == "NetStream.Publish.Start" || cmd.level() == "error") ||
		isRefusal(cmd) || cmd.name == "_error" && cmd.tx == txPublish
}
