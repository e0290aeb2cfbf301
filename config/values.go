package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Resolution is the output size. In JSON and YAML it is {width, height} or
// "WxH"; on the command line "WxH".
type Resolution struct {
	Width  int `json:"width" yaml:"width"`
	Height int `json:"height" yaml:"height"`
}

func (r Resolution) String() string { return fmt.Sprintf("%dx%d", r.Width, r.Height) }

// ParseResolution reads "WxH".
func ParseResolution(s string) (Resolution, error) {
	w, h, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT (for example 1280x720 or 720x1280)", s)
	}
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil {
		return Resolution{}, fmt.Errorf("%q is not WIDTHxHEIGHT (for example 1280x720 or 720x1280)", s)
	}
	return Resolution{wi, hi}, nil
}

// Validate checks even sizes from 160 up to 3840x2160, landscape or portrait.
func (r Resolution) Validate() error {
	const allowed = "allowed: even sizes from 160 to 3840 wide and 160 to 2160 high, or the portrait equivalents, such as 1280x720 or 720x1280"
	long, short := max(r.Width, r.Height), min(r.Width, r.Height)
	switch {
	case r.Width%2 != 0 || r.Height%2 != 0:
		return fmt.Errorf("%s has an odd side (%s)", r, allowed)
	case short < MinSide:
		return fmt.Errorf("%s is too small (%s)", r, allowed)
	case long > MaxLongSide || short > MaxShortSide:
		return fmt.Errorf("%s is too large (%s)", r, allowed)
	}
	return nil
}

// UnmarshalJSON accepts {width, height} or "WxH".
func (r *Resolution) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := ParseResolution(s)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	type plain Resolution
	var v plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("resolution: want {\"width\": W, \"height\": H} or \"WxH\": %w", err)
	}
	*r = Resolution(v)
	return nil
}

// UnmarshalYAML accepts {width, height} or "WxH".
func (r *Resolution) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v, err := ParseResolution(n.Value)
		if err != nil {
			return err
		}
		*r = v
		return nil
	}
	// Node.Decode does not inherit the file decoder's KnownFields, so
	// check the keys here: a misspelt "hieght" must not pass as height 0.
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "width" && k != "height" {
				return fmt.Errorf("line %d: unknown field %q (want {width: W, height: H} or WxH)", n.Content[i].Line, k)
			}
		}
	}
	type plain Resolution
	var v plain
	if err := n.Decode(&v); err != nil {
		return err
	}
	*r = Resolution(v)
	return nil
}

// Duration is a time.Duration written as "90s", "4h" or "1h30m" (a bare
// number means seconds).
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads "10s", "4h", or a number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Converting a float out of int64's range is implementation-defined
		// in Go: reject it rather than get an arbitrary duration.
		ns := f * float64(time.Second)
		if math.IsNaN(ns) || math.Abs(ns) >= math.MaxInt64 {
			return 0, fmt.Errorf("%q seconds is out of range (for example 90s, 10m or 4h)", s)
		}
		return Duration(ns), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (for example 90s, 10m or 4h)", s)
	}
	return Duration(d), nil
}

// MarshalJSON writes "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts "10s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes "10s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML accepts "10s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Bitrate is bits per second, written as 2500000, "2500k" or "2.5M".
type Bitrate int64

func (b Bitrate) String() string {
	switch {
	case b >= 1_000_000 && b%100_000 == 0:
		return strconv.FormatFloat(float64(b)/1e6, 'f', -1, 64) + "M"
	case b >= 1000 && b%1000 == 0:
		return strconv.FormatInt(int64(b)/1000, 10) + "k"
	}
	return strconv.FormatInt(int64(b), 10)
}

// ParseBitrate reads 2500000, "2500k" or "2.5M".
func ParseBitrate(s string) (Bitrate, error) {
	s = strings.TrimSpace(s)
	num, mult := s, 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, num = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, num = 1e6, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(num, 64)
	// NaN and values beyond int64 would convert to arbitrary bitrates.
	if err != nil || !(f >= 0) || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a bitrate (for example 2500000, 2500k or 2.5M)", s)
	}
	return Bitrate(f * mult), nil
}

// UnmarshalJSON accepts a number or "2500k".
func (b *Bitrate) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		s = string(data)
	}
	v, err := ParseBitrate(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML accepts a number or "2500k".
func (b *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseBitrate(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
