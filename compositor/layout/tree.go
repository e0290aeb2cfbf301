package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// kind is the type of a value in a decoded document.
type kind int

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

// node is one value of a decoded JSON or YAML document. Objects keep their
// keys in document order: regions are filled in that order.
type node struct {
	kind  kind
	b     bool
	s     string // a string, or a number's literal text
	isInt bool   // a number written without a fraction or exponent
	keys  []string
	vals  []*node
	items []*node
}

// Limits that keep a hostile document from costing much.
const (
	maxDocBytes = 1 << 20
	maxDepth    = 16
	maxNodes    = 100000
)

// Format is a document's syntax.
type Format int

// Formats. FormatAuto looks at the content: '{' first means JSON.
const (
	FormatAuto Format = iota
	FormatJSON
	FormatYAML
)

func decodeTree(data []byte, f Format) (*node, error) {
	if len(data) > maxDocBytes {
		return nil, fmt.Errorf("the document is %d bytes; at most %d are allowed", len(data), maxDocBytes)
	}
	if f == FormatAuto {
		f = FormatYAML
		if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			f = FormatJSON
		}
	}
	if f == FormatJSON {
		return decodeJSON(data)
	}
	return decodeYAML(data)
}

func decodeJSON(data []byte) (*node, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	count := 0
	n, err := jsonValue(d, 0, &count)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: more after the document's end")
	}
	return n, nil
}

func jsonValue(d *json.Decoder, depth int, count *int) (*node, error) {
	*count++
	if depth > maxDepth || *count > maxNodes {
		return nil, errors.New("nested too deep or too large")
	}
	tok, err := d.Token()
	if err != nil {
		if err == io.EOF {
			err = errors.New("the document is empty")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: kNull}, nil
	case bool:
		return &node{kind: kBool, b: t}, nil
	case json.Number:
		return &node{kind: kNumber, s: t.String(), isInt: !strings.ContainsAny(t.String(), ".eE")}, nil
	case string:
		return &node{kind: kString, s: t}, nil
	case json.Delim:
		switch t {
		case '[':
			n := &node{kind: kArray}
			for d.More() {
				v, err := jsonValue(d, depth+1, count)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			_, err := d.Token()
			return n, err
		case '{':
			n := &node{kind: kObject}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				if n.get(k) != nil {
					return nil, fmt.Errorf("key %q appears twice", k)
				}
				v, err := jsonValue(d, depth+1, count)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			_, err := d.Token()
			return n, err
		}
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

func decodeYAML(data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the document is empty")
	}
	count := 0
	return yamlValue(doc.Content[0], 0, &count)
}

func yamlValue(y *yaml.Node, depth int, count *int) (*node, error) {
	*count++
	if depth > maxDepth || *count > maxNodes {
		return nil, errors.New("not valid YAML: nested too deep or too large")
	}
	switch y.Kind {
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not allowed in a layout; write the value out", y.Line)
	case yaml.SequenceNode:
		n := &node{kind: kArray}
		for _, c := range y.Content {
			v, err := yamlValue(c, depth+1, count)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: kObject}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k := y.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain name", k.Line)
			}
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not allowed in a layout", k.Line)
			}
			if n.get(k.Value) != nil {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := yamlValue(y.Content[i+1], depth+1, count)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k.Value)
			n.vals = append(n.vals, v)
		}
		return n, nil
	case yaml.ScalarNode:
		switch y.ShortTag() {
		case "!!null":
			return &node{kind: kNull}, nil
		case "!!bool":
			var b bool
			if err := y.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", y.Line, err)
			}
			return &node{kind: kBool, b: b}, nil
		case "!!int":
			var i int64
			if err := y.Decode(&i); err != nil {
				return nil, fmt.Errorf("line %d: %w", y.Line, err)
			}
			return &node{kind: kNumber, s: fmt.Sprint(i), isInt: true}, nil
		case "!!float":
			var f float64
			if err := y.Decode(&f); err != nil {
				return nil, fmt.Errorf("line %d: %w", y.Line, err)
			}
			lit := strconv.FormatFloat(f, 'f', -1, 64)
			if !strings.ContainsAny(lit, ".eE") {
				lit += ".0"
			}
			return &node{kind: kNumber, s: lit}, nil
		default:
			return &node{kind: kString, s: y.Value}, nil
		}
	}
	return nil, fmt.Errorf("line %d: unsupported YAML value", y.Line)
}

func (n *node) get(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// toYAML turns a tree back into a YAML node, keeping the key order.
func (n *node) toYAML() *yaml.Node {
	switch n.kind {
	case kNull:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case kBool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(n.b)}
	case kNumber:
		tag := "!!float"
		if n.isInt {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: n.s}
	case kString:
		y := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.s}
		if strings.Contains(n.s, ":") {
			// YAML 1.1 readers take an unquoted 16:9 for a number.
			y.Style = yaml.DoubleQuotedStyle
		}
		return y
	case kArray:
		y := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, it := range n.items {
			if it.kind == kObject || it.kind == kArray {
				y.Style = 0
			}
			y.Content = append(y.Content, it.toYAML())
		}
		return y
	}
	y := &yaml.Node{Kind: yaml.MappingNode}
	for i, k := range n.keys {
		y.Content = append(y.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, n.vals[i].toYAML())
	}
	return y
}

// writeJSON writes the tree as compact JSON, keeping the key order.
func (n *node) writeJSON(b *bytes.Buffer) {
	q := func(s string) {
		j, _ := json.Marshal(s)
		b.Write(j)
	}
	switch n.kind {
	case kNull:
		b.WriteString("null")
	case kBool:
		fmt.Fprint(b, n.b)
	case kNumber:
		b.WriteString(n.s)
	case kString:
		q(n.s)
	case kArray:
		b.WriteByte('[')
		for i, it := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			it.writeJSON(b)
		}
		b.WriteByte(']')
	case kObject:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q(k)
			b.WriteByte(':')
			n.vals[i].writeJSON(b)
		}
		b.WriteByte('}')
	}
}
