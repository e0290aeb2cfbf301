package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Format is a job file's syntax.
type Format int

// Formats of a job file.
const (
	YAML Format = iota
	JSON
)

func (f Format) String() string {
	if f == JSON {
		return "JSON"
	}
	return "YAML"
}

// FormatOf picks a job file's format from its name: .json is JSON, anything
// else YAML.
func FormatOf(path string) Format {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return JSON
	}
	return YAML
}

// LoadFile merges a YAML or JSON job file into j (see Decode).
func LoadFile(path string, j *Job) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := Decode(b, FormatOf(path), j); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Decode merges a job document into j: the fields it names replace j's. The
// document is one YAML mapping or JSON object of the contract's field names
// (or null, which changes nothing).
//
// Every field is decoded on its own, so that every problem is reported at
// once and names its field: an unknown field (a misspelling must not be
// ignored), a field given twice, or a bad value; those come as an *Error.
// Text that is not such a document at all comes as a *SyntaxError.
func Decode(data []byte, f Format, j *Job) error {
	if f == JSON {
		return decodeJSON(data, j)
	}
	return decodeYAML(data, j)
}

// SyntaxError is a job document that is not a mapping of fields: malformed
// YAML or JSON, empty, or another kind of value at the top.
type SyntaxError struct {
	Format Format
	Err    error
}

func (e *SyntaxError) Error() string {
	return "not a " + e.Format.String() + " job document: " + e.Err.Error()
}
func (e *SyntaxError) Unwrap() error { return e.Err }

// jobField finds a Job field by its contract name. fold also accepts another
// case, as encoding/json does.
func jobField(j *Job, name string, fold bool) (string, any, bool) {
	v := reflect.ValueOf(j).Elem()
	t := v.Type()
	for pass := range 2 {
		if pass == 1 && !fold {
			break
		}
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if tag == name || pass == 1 && strings.EqualFold(tag, name) {
				return tag, v.Field(i).Addr().Interface(), true
			}
		}
	}
	return "", nil, false
}

// FieldNames lists the job document's field names, in the contract's order.
func FieldNames() []string {
	t := reflect.TypeFor[Job]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, tag)
	}
	return names
}

// fieldProblems collects per-field problems and catches repeated fields.
type fieldProblems struct {
	p    []string
	seen map[string]string // field name -> where it was first given
}

func (fp *fieldProblems) add(field, format string, a ...any) {
	fp.p = append(fp.p, field+": "+fmt.Sprintf(format, a...))
}

func (fp *fieldProblems) unknown(key string) {
	fp.p = append(fp.p, fmt.Sprintf("unknown field %q (known: %s)", key, strings.Join(FieldNames(), ", ")))
}

// first reports whether field was not given before, and a problem if it was.
func (fp *fieldProblems) first(field, where string) bool {
	if fp.seen == nil {
		fp.seen = map[string]string{}
	}
	if prev, ok := fp.seen[field]; ok {
		fp.add(field, "given twice (%s and %s); give it once", prev, where)
		return false
	}
	fp.seen[field] = where
	return true
}

func (fp *fieldProblems) err() error {
	if len(fp.p) == 0 {
		return nil
	}
	return &Error{Problems: fp.p}
}

func decodeJSON(data []byte, j *Job) error {
	bad := func(err error) error { return &SyntaxError{Format: JSON, Err: err} }
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return bad(errors.New("empty"))
	case err != nil:
		return bad(err)
	}
	var fp fieldProblems
	switch tok {
	case nil: // null: nothing to merge
	case json.Delim('{'):
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return bad(err)
			}
			key := tok.(string) // json.Decoder only yields string keys inside an object
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return bad(err)
			}
			name, ptr, ok := jobField(j, key, true)
			if !ok {
				fp.unknown(key)
				continue
			}
			if !fp.first(name, fmt.Sprintf("as %q", key)) {
				continue
			}
			vd := json.NewDecoder(bytes.NewReader(raw))
			vd.DisallowUnknownFields()
			if err := vd.Decode(ptr); err != nil {
				fp.add(name, "%v", err)
			}
		}
		if _, err := dec.Token(); err != nil {
			return bad(err)
		}
	default:
		return bad(fmt.Errorf("the top level is %v, not an object of job fields such as {\"meetingUrl\": \"demo:\", \"record\": true}", tok))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return bad(errors.New("more text after the job object"))
	}
	return fp.err()
}

func decodeYAML(data []byte, j *Job) error {
	bad := func(err error) error { return &SyntaxError{Format: YAML, Err: err} }
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return bad(errors.New("empty"))
		}
		return bad(err)
	}
	n := &doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return nil // null: nothing to merge
	case n.Kind != yaml.MappingNode:
		return bad(fmt.Errorf("line %d: the top level is not a mapping of job fields such as \"meetingUrl: demo:\"", n.Line))
	}
	var fp fieldProblems
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			// A merge key (<<) or a complex key cannot name a field.
			fp.p = append(fp.p, fmt.Sprintf("key at line %d is not a field name (known: %s)", k.Line, strings.Join(FieldNames(), ", ")))
			continue
		}
		name, ptr, ok := jobField(j, k.Value, false)
		if !ok {
			fp.unknown(k.Value)
			continue
		}
		if !fp.first(name, fmt.Sprintf("line %d", k.Line)) {
			continue
		}
		if err := v.Decode(ptr); err != nil {
			msg := yamlMessage(err)
			if !strings.HasPrefix(msg, "line ") {
				msg = fmt.Sprintf("line %d: %s", v.Line, msg)
			}
			fp.add(name, "%s", msg)
		}
	}
	return fp.err()
}

// yamlMessage flattens yaml.v3's multi-line type errors to one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}
