package analyze

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Expect is an expectation file: what a recording must be like. Every
// section is optional; what is left out is not checked. The format is
// documented in testdata/expect/README.md.
type Expect struct {
	Version  int             `yaml:"version,omitempty"`
	Streams  *StreamsExpect  `yaml:"streams,omitempty"`
	Duration *DurationExpect `yaml:"duration,omitempty"`
	Audio    *AudioExpect    `yaml:"audio,omitempty"`
	Layout   []LayoutCheck   `yaml:"layout,omitempty"`
	Sync     *SyncExpect     `yaml:"sync,omitempty"`
}

// StreamsExpect states the streams' parameters. Zero values are not checked.
type StreamsExpect struct {
	Video *VideoStreamExpect `yaml:"video,omitempty"`
	Audio *AudioStreamExpect `yaml:"audio,omitempty"`
}

// VideoStreamExpect states the video stream's parameters.
type VideoStreamExpect struct {
	Codec  string  `yaml:"codec,omitempty"`
	Width  int     `yaml:"width,omitempty"`
	Height int     `yaml:"height,omitempty"`
	FPS    float64 `yaml:"fps,omitempty"`
	// FPSTolerance defaults to 1% of FPS.
	FPSTolerance float64 `yaml:"fpsTolerance,omitempty"`
}

// AudioStreamExpect states the audio stream's parameters.
type AudioStreamExpect struct {
	Codec      string `yaml:"codec,omitempty"`
	Profile    string `yaml:"profile,omitempty"` // AAC profile: LC, HE, HEv2
	SampleRate int    `yaml:"sampleRate,omitempty"`
	Channels   int    `yaml:"channels,omitempty"`
}

// DurationExpect states the container's duration.
type DurationExpect struct {
	Seconds Seconds `yaml:"seconds" check:"required"`
	// Tolerance defaults to DefaultDurationTolerance.
	Tolerance Seconds `yaml:"tolerance,omitempty"`
}

// AudioExpect states the audio's loudness and silences. Levels are RMS
// levels over all channels in dBFS (a full-scale sine is -3 dBFS).
type AudioExpect struct {
	// NotSilent requires the whole file's level to be above SilenceDbfs.
	NotSilent bool   `yaml:"notSilent,omitempty"`
	MeanDbfs  *Range `yaml:"meanDbfs,omitempty,flow"`
	PeakDbfs  *Range `yaml:"peakDbfs,omitempty,flow"`
	// SilenceDbfs is the level below which audio is silent, by default
	// DefaultSilenceDbfs.
	SilenceDbfs *float64 `yaml:"silenceDbfs,omitempty"`
	// Silence lists windows in which every 50 ms of audio is silent.
	Silence []SilenceWindow `yaml:"silence,omitempty,flow"`
}

// Range is an inclusive range; a missing bound is open.
type Range struct {
	Min *float64 `yaml:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty"`
}

// SilenceWindow is a span of the recording that must be silent.
type SilenceWindow struct {
	From Seconds `yaml:"from" check:"required"`
	To   Seconds `yaml:"to" check:"required"`
}

// LayoutCheck states what a region of the picture shows at a time: a colour
// (RGB or YUV), or a picture (a reference image, or a frame of the peer's
// source clip) compared by PSNR.
type LayoutCheck struct {
	Name   string  `yaml:"name,omitempty"`
	Peer   string  `yaml:"peer,omitempty"`
	At     Seconds `yaml:"at" check:"required"`
	Region Region  `yaml:"region,flow" check:"required"`

	RGB *Color      `yaml:"rgb,omitempty"`
	YUV *[3]float64 `yaml:"yuv,omitempty,flow"`
	// MaxDistance is the largest Euclidean distance between the region's
	// mean colour and RGB or YUV (0..255 per component), by default
	// DefaultMaxColorDistance.
	MaxDistance float64 `yaml:"maxDistance,omitempty"`

	Reference *Reference `yaml:"reference,omitempty"`
}

// Region is a rectangle of the frame, in pixels or, with Relative, in
// fractions (0..1) of the frame's width and height.
type Region struct {
	X        float64 `yaml:"x"`
	Y        float64 `yaml:"y"`
	W        float64 `yaml:"w" check:"required"`
	H        float64 `yaml:"h" check:"required"`
	Relative bool    `yaml:"relative,omitempty"`
}

// Reference is a picture the region must resemble: an image file or a frame
// of a media file (the peer's source clip) at a time. Relative paths are
// taken from the expectation file's folder.
type Reference struct {
	Image string `yaml:"image,omitempty"`
	Clip  string `yaml:"clip,omitempty"`
	// At is the clip's time, by default the check's time.
	At      *Seconds `yaml:"at,omitempty"`
	MinPSNR float64  `yaml:"minPsnr" check:"required"`
}

// SyncExpect bounds the A/V offset and drift measured by AnalyzeSync.
type SyncExpect struct {
	MaxOffsetMs float64 `yaml:"maxOffsetMs" check:"required"`
	// MaxDriftMsPerHour, when set, bounds |drift| of every peer.
	MaxDriftMsPerHour float64 `yaml:"maxDriftMsPerHour,omitempty"`
	// MinPeers is the number of peers that must be found, by default 1.
	MinPeers int `yaml:"minPeers,omitempty"`
	// Tones and Grid override detection, as SyncOptions.
	Tones []float64 `yaml:"tones,omitempty,flow"`
	Grid  string    `yaml:"grid,omitempty"` // columns x rows, e.g. "2x1"
}

// Defaults of an expectation file.
const (
	DefaultDurationTolerance = 0.5
	DefaultMaxColorDistance  = 30.0
)

// Seconds is a time in seconds. In YAML it is a number of seconds or a Go
// duration string ("1.5s", "2m").
type Seconds float64

func (s *Seconds) decodeNode(n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			v, err := strconv.ParseFloat(n.Value, 64)
			if err == nil {
				*s = Seconds(v)
				return nil
			}
		case "!!str":
			d, err := time.ParseDuration(n.Value)
			if err == nil {
				*s = Seconds(d.Seconds())
				return nil
			}
		}
	}
	return nodeError(n, path, "want seconds, as a number or a duration such as \"1.5s\", got %s", describe(n))
}

// Color is an RGB colour. In YAML it is "#rrggbb" (quoted: # starts a YAML
// comment) or [r, g, b].
type Color [3]uint8

func (c Color) String() string { return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2]) }

// MarshalYAML writes the colour as "#rrggbb".
func (c Color) MarshalYAML() (any, error) { return c.String(), nil }

func (c *Color) decodeNode(n *yaml.Node, path string) error {
	const want = `want "#rrggbb" (quoted, since # starts a YAML comment) or [r, g, b]`
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		hex := strings.TrimPrefix(n.Value, "#")
		v, err := strconv.ParseUint(hex, 16, 32)
		if len(hex) != 6 || err != nil {
			return nodeError(n, path, "%s, got %q", want, n.Value)
		}
		*c = Color{uint8(v >> 16), uint8(v >> 8), uint8(v)}
		return nil
	case n.Kind == yaml.SequenceNode && len(n.Content) == 3:
		for i, e := range n.Content {
			v, err := strconv.Atoi(e.Value)
			if e.ShortTag() != "!!int" || err != nil || v < 0 || v > 255 {
				return nodeError(e, fmt.Sprintf("%s[%d]", path, i), "want an integer 0..255, got %s", describe(e))
			}
			c[i] = uint8(v)
		}
		return nil
	}
	return nodeError(n, path, "%s, got %s", want, describe(n))
}

// nodeDecoder is implemented by types with their own YAML syntax.
type nodeDecoder interface {
	decodeNode(n *yaml.Node, path string) error
}

// LoadExpect reads and checks an expectation file.
func LoadExpect(path string) (*Expect, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	e, err := ParseExpect(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// ParseExpect parses an expectation file strictly: unknown fields, values of
// the wrong type, missing required values and out-of-range values are
// errors that name the field, as in "layout[1].region.w (line 12): …".
func ParseExpect(b []byte) (*Expect, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the expectation file is empty")
		}
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, errors.New("the expectation file is empty")
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: only one YAML document is allowed", extra.Line)
	}
	e := &Expect{}
	if err := decodeStrict(doc.Content[0], reflect.ValueOf(e).Elem(), ""); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeStrict decodes n into v, rejecting what does not fit v exactly.
func decodeStrict(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.CanAddr() {
		if d, ok := v.Addr().Interface().(nodeDecoder); ok {
			return d.decodeNode(n, path)
		}
	}
	if v.Kind() == reflect.Pointer {
		// A value with its own syntax sees its null, to explain it: an
		// unquoted "#rrggbb" reads as a comment, leaving nothing.
		_, custom := reflect.New(v.Type().Elem()).Interface().(nodeDecoder)
		if n.ShortTag() == "!!null" && !custom {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeStrict(n, v.Elem(), path)
	}
	if n.ShortTag() == "!!null" {
		return nodeError(n, path, "has no value")
	}
	switch v.Kind() {
	case reflect.Struct:
		return decodeStruct(n, v, path)
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nodeError(n, path, "want a list, got %s", describe(n))
		}
		if v.Kind() == reflect.Array && len(n.Content) != v.Len() {
			return nodeError(n, path, "want a list of %d values, got %d", v.Len(), len(n.Content))
		}
		if v.Kind() == reflect.Slice {
			v.Set(reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content)))
		}
		for i, e := range n.Content {
			if err := decodeStrict(e, v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, path, "want a single value, got %s", describe(n))
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		// Numbers are fine as names ("peer: 2"); mappings and lists are not.
		v.SetString(n.Value)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if tag != "!!int" || err != nil {
			return nodeError(n, path, "want an integer, got %s", describe(n))
		}
		v.SetInt(int64(i))
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (tag != "!!int" && tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nodeError(n, path, "want a number, got %s", describe(n))
		}
		v.SetFloat(f)
	case reflect.Bool:
		if tag != "!!bool" {
			return nodeError(n, path, "want true or false, got %s", describe(n))
		}
		v.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	default:
		return fmt.Errorf("%s: analyze: cannot decode into %s", path, v.Type())
	}
	return nil
}

func decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return nodeError(n, path, "want a mapping of fields, got %s", describe(n))
	}
	t := v.Type()
	type field struct {
		index    int
		required bool
	}
	fields := map[string]field{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = field{i, t.Field(i).Tag.Get("check") == "required"}
		names = append(names, name)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := joinPath(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			return nodeError(k, fp, "unknown field (known here: %s)", strings.Join(names, ", "))
		}
		if seen[k.Value] {
			return nodeError(k, fp, "is given twice")
		}
		seen[k.Value] = true
		if err := decodeStrict(val, v.Field(f.index), fp); err != nil {
			return err
		}
	}
	for _, name := range names {
		if fields[name].required && !seen[name] {
			where := path
			if where == "" {
				where = "the top level"
			}
			return fmt.Errorf("%s (line %d): missing; %s needs it", joinPath(path, name), n.Line, where)
		}
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func nodeError(n *yaml.Node, path, format string, args ...any) error {
	if path == "" {
		path = "the file"
	}
	return fmt.Errorf("%s (line %d): %s", path, n.Line, fmt.Sprintf(format, args...))
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// Validate checks the values that the types alone do not: ranges, and
// choices that exclude each other.
func (e *Expect) Validate() error {
	if e.Version != 0 && e.Version != 1 {
		return fmt.Errorf("version: %d is not supported (this roomcast reads version 1)", e.Version)
	}
	if s := e.Streams; s != nil {
		if v := s.Video; v != nil {
			if v.Width < 0 || v.Height < 0 {
				return errors.New("streams.video: width and height must be positive")
			}
			if v.FPS < 0 || v.FPSTolerance < 0 {
				return errors.New("streams.video: fps and fpsTolerance must be positive")
			}
		}
		if a := s.Audio; a != nil && (a.SampleRate < 0 || a.Channels < 0) {
			return errors.New("streams.audio: sampleRate and channels must be positive")
		}
	}
	if d := e.Duration; d != nil {
		if d.Seconds <= 0 {
			return fmt.Errorf("duration.seconds: %g is not a positive duration", float64(d.Seconds))
		}
		if d.Tolerance < 0 {
			return fmt.Errorf("duration.tolerance: %g is negative", float64(d.Tolerance))
		}
	}
	if a := e.Audio; a != nil {
		for name, r := range map[string]*Range{"audio.meanDbfs": a.MeanDbfs, "audio.peakDbfs": a.PeakDbfs} {
			if r == nil {
				continue
			}
			if r.Min == nil && r.Max == nil {
				return fmt.Errorf("%s: give min, max or both", name)
			}
			if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
				return fmt.Errorf("%s: min %g is above max %g", name, *r.Min, *r.Max)
			}
		}
		for i, w := range a.Silence {
			if w.From < 0 || w.To <= w.From {
				return fmt.Errorf("audio.silence[%d]: from %g to %g is not a window (0 <= from < to)", i, float64(w.From), float64(w.To))
			}
		}
	}
	for i := range e.Layout {
		if err := e.Layout[i].validate(); err != nil {
			return fmt.Errorf("layout[%d]%s", i, err)
		}
	}
	if s := e.Sync; s != nil {
		if s.MaxOffsetMs <= 0 {
			return fmt.Errorf("sync.maxOffsetMs: %g must be positive", s.MaxOffsetMs)
		}
		if s.MaxDriftMsPerHour < 0 || s.MinPeers < 0 {
			return errors.New("sync: maxDriftMsPerHour and minPeers must be positive")
		}
		for i, hz := range s.Tones {
			if hz <= 0 {
				return fmt.Errorf("sync.tones[%d]: %g Hz is not a frequency", i, hz)
			}
		}
		if s.Grid != "" {
			if _, _, err := ParseGrid(s.Grid); err != nil {
				return fmt.Errorf("sync.grid: %w", err)
			}
		}
	}
	return nil
}

// validate returns an error whose text starts with the field, to follow
// "layout[i]".
func (c *LayoutCheck) validate() error {
	if c.At < 0 {
		return fmt.Errorf(".at: %g is negative", float64(c.At))
	}
	r := c.Region
	if r.W <= 0 || r.H <= 0 || r.X < 0 || r.Y < 0 {
		return fmt.Errorf(".region: x, y must be >= 0 and w, h > 0, got x=%g y=%g w=%g h=%g", r.X, r.Y, r.W, r.H)
	}
	if r.Relative && (r.X+r.W > 1 || r.Y+r.H > 1) {
		return fmt.Errorf(".region: a relative region must lie within 0..1, got x+w=%g y+h=%g", r.X+r.W, r.Y+r.H)
	}
	if !r.Relative && (r.X != math.Trunc(r.X) || r.Y != math.Trunc(r.Y) || r.W != math.Trunc(r.W) || r.H != math.Trunc(r.H)) {
		return errors.New(".region: pixel values must be whole numbers (set relative: true for fractions of the frame)")
	}
	n := 0
	for _, set := range []bool{c.RGB != nil, c.YUV != nil, c.Reference != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New(": give exactly one of rgb, yuv and reference")
	}
	if c.MaxDistance < 0 {
		return fmt.Errorf(".maxDistance: %g is negative", c.MaxDistance)
	}
	if c.YUV != nil {
		for i, v := range c.YUV {
			if v < 0 || v > 255 {
				return fmt.Errorf(".yuv[%d]: %g is outside 0..255", i, v)
			}
		}
	}
	if ref := c.Reference; ref != nil {
		if (ref.Image == "") == (ref.Clip == "") {
			return errors.New(".reference: give exactly one of image and clip")
		}
		if ref.At != nil && ref.Image != "" {
			return errors.New(".reference.at: only a clip has a time")
		}
		if ref.At != nil && *ref.At < 0 {
			return fmt.Errorf(".reference.at: %g is negative", float64(*ref.At))
		}
		if ref.MinPSNR <= 0 {
			return fmt.Errorf(".reference.minPsnr: %g must be positive (dB)", ref.MinPSNR)
		}
	}
	return nil
}

// ParseGrid parses "CxR" (columns x rows).
func ParseGrid(s string) (cols, rows int, err error) {
	c, r, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		cols, err = strconv.Atoi(c)
		if err == nil {
			rows, err = strconv.Atoi(r)
		}
	}
	if !ok || err != nil || cols <= 0 || rows <= 0 || cols > 16 || rows > 16 {
		return 0, 0, fmt.Errorf("%q is not a grid such as 2x1 (columns x rows, 1..16 each)", s)
	}
	return cols, rows, nil
}

// Marshal writes the expectation file as YAML, with a header comment.
func (e *Expect) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# roomcast verify expectations; format: testdata/expect/README.md\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
