package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/roomcast/roomcast/compositor/layout"
)

// Layout is a job's layout: a preset's name ("grid", "speaker", …) or a
// whole layout document (docs/layouts.md), held as its JSON text. In JSON
// and YAML it is a string or an object.
type Layout string

// IsDocument reports whether l is a document rather than a preset's name.
func (l Layout) IsDocument() bool { return strings.HasPrefix(strings.TrimSpace(string(l)), "{") }

// Resolve validates l and returns its document.
func (l Layout) Resolve() (*layout.Document, error) { return layout.Resolve(string(l)) }

// UnmarshalJSON takes a preset's name or a document.
func (l *Layout) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return err
		}
		*l = Layout(c.String())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a preset's name (%s) or a layout document (an object)", strings.Join(layout.PresetNames(), ", "))
	}
	*l = Layout(s)
	return nil
}

// MarshalJSON writes a name as a string and a document as itself.
func (l Layout) MarshalJSON() ([]byte, error) {
	if l.IsDocument() {
		return []byte(l), nil
	}
	return json.Marshal(string(l))
}

// UnmarshalYAML takes a preset's name or a document, which is kept as JSON
// in its own key order (a layout's regions are in document order).
func (l *Layout) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = Layout(n.Value)
		return nil
	case yaml.MappingNode:
		var b bytes.Buffer
		if err := nodeJSON(&b, n); err != nil {
			return fmt.Errorf("the layout document: %w", err)
		}
		*l = Layout(b.String())
		return nil
	}
	return fmt.Errorf("a preset's name (%s) or a layout document (a mapping)", strings.Join(layout.PresetNames(), ", "))
}

// nodeJSON writes a YAML node as JSON, keeping the order of mappings.
func nodeJSON(b *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return nodeJSON(b, n.Alias)
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := nodeJSON(b, n.Content[i+1]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := nodeJSON(b, c); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		e, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(e)
	}
	return nil
}

// MarshalYAML writes a name as a string and a document as a mapping, in
// its own key order.
func (l Layout) MarshalYAML() (any, error) {
	if !l.IsDocument() {
		return string(l), nil
	}
	// JSON is YAML: its node keeps the order.
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(l), &n); err != nil {
		return nil, err
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return n.Content[0], nil
	}
	return &n, nil
}
