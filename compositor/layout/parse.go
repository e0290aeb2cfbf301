package layout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FieldError is a refused document field: Path names it the way the
// document spells it (video_layout.main.x_pos, cells_excluded[2]).
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "layout: " + e.Msg
	}
	return "layout: " + e.Path + ": " + e.Msg
}

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Limits on a document's size.
const (
	maxRegions  = 64
	maxPatterns = 256
	maxGrid     = 1000
)

// Parse decodes and validates a layout document.
func Parse(data []byte, f Format) (*Document, error) {
	t, err := decodeTree(data, f)
	if err != nil {
		return nil, &FieldError{Msg: err.Error()}
	}
	return build(t)
}

// LoadFile reads a --layout-file: JSON for .json, YAML for .yaml or .yml,
// otherwise whatever the content is.
func LoadFile(path string) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("layout file: %w", err)
	}
	f := FormatAuto
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		f = FormatJSON
	case ".yaml", ".yml":
		f = FormatYAML
	}
	d, err := Parse(data, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// object walks an object's fields, refusing the ones it does not know.
type object struct {
	n    *node
	path string
}

func asObject(n *node, path string) (object, error) {
	if n.kind != kObject {
		return object{}, fieldErr(path, "is %s; it must be an object", n.kind)
	}
	return object{n: n, path: path}, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (o object) check(known ...string) error {
	for _, k := range o.n.keys {
		found := false
		for _, want := range known {
			if k == want {
				found = true
				break
			}
		}
		if !found {
			return fieldErr(join(o.path, k), "unknown field; %s", suggest(k, known))
		}
	}
	return nil
}

func suggest(k string, known []string) string {
	best, bestD := "", 1<<30
	for _, w := range known {
		if d := distance(strings.ToLower(k), w); d < bestD {
			best, bestD = w, d
		}
	}
	if bestD <= max(2, len(k)/3) {
		return fmt.Sprintf("did you mean %q? (known: %s)", best, strings.Join(known, ", "))
	}
	return "known fields here: " + strings.Join(known, ", ")
}

// distance is the Levenshtein distance, for suggestions.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (o object) str(key string, dst *string) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	if v.kind != kString {
		return fieldErr(join(o.path, key), "is %s; it must be a string", v.kind)
	}
	*dst = v.s
	return nil
}

func (o object) boolean(key string, dst *bool) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	if v.kind != kBool {
		return fieldErr(join(o.path, key), "is %s; use true or false", v.kind)
	}
	*dst = v.b
	return nil
}

func (o object) integer(key string, lo, hi int, dst *int) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	p := join(o.path, key)
	if v.kind != kNumber || !v.isInt {
		return fieldErr(p, "is %s; it must be a whole number from %d to %d", describe(v), lo, hi)
	}
	i, err := strconv.Atoi(v.s)
	if err != nil || i < lo || i > hi {
		return fieldErr(p, "%s is out of range: use %d to %d", v.s, lo, hi)
	}
	*dst = i
	return nil
}

func describe(v *node) string {
	if v.kind == kNumber {
		return v.s
	}
	return v.kind.String()
}

func (o object) length(key string, nonNeg bool, dst *Length) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	l, err := parseLength(v)
	if err != nil {
		return fieldErr(join(o.path, key), "%s", err.Error())
	}
	if nonNeg && !l.IsFrac && l.Px < 0 {
		return fieldErr(join(o.path, key), "%d is negative: use 0 or more", l.Px)
	}
	*dst = l
	return nil
}

func (o object) enum(key string, dst *string, allowed ...string) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	p := join(o.path, key)
	if v.kind != kString {
		return fieldErr(p, "is %s; use one of %s", v.kind, strings.Join(allowed, ", "))
	}
	for _, a := range allowed {
		if v.s == a {
			*dst = a
			return nil
		}
	}
	return fieldErr(p, "%q is not allowed: use one of %s", v.s, strings.Join(allowed, ", "))
}

func (o object) strings(key string, dst *[]string) error {
	v := o.n.get(key)
	if v == nil {
		return nil
	}
	p := join(o.path, key)
	if v.kind != kArray {
		return fieldErr(p, "is %s; it must be a list of strings, e.g. [\"*\"]", v.kind)
	}
	if len(v.items) > maxPatterns {
		return fieldErr(p, "has %d entries; at most %d are allowed", len(v.items), maxPatterns)
	}
	out := make([]string, 0, len(v.items))
	for i, it := range v.items {
		if it.kind != kString {
			return fieldErr(fmt.Sprintf("%s[%d]", p, i), "is %s; it must be a string", it.kind)
		}
		out = append(out, it.s)
	}
	*dst = out
	return nil
}

var topFields = []string{"name", "description", "background", "gap", "radius", "fit", "screenshare", "overlays",
	"video_layout", "portrait_video_layout", "screenshare_layout", "portrait_screenshare_layout",
	"audio_sources", "audio_sources_excluded", "trim", "resolution", "format"}

var regionFields = []string{"x_pos", "y_pos", "z_pos", "width", "height", "max_columns", "max_rows",
	"cells_excluded", "reuse", "video_sources", "video_sources_excluded",
	"order", "compact", "tile_aspect", "center_last_row", "fit", "radius"}

func build(t *node) (*Document, error) {
	o, err := asObject(t, "")
	if err != nil {
		return nil, &FieldError{Msg: "the document must be an object with a video_layout, e.g. {\"video_layout\": {\"grid\": {\"video_sources\": [\"*\"]}}}"}
	}
	if err := o.check(topFields...); err != nil {
		return nil, err
	}
	d := &Document{Fit: FitCover, Screenshare: ScreenshareStage, Overlays: defaultOverlays(), tree: t,
		Background: defaultBackground}
	if err := o.str("name", &d.Name); err != nil {
		return nil, err
	}
	if err := o.str("description", &d.Description); err != nil {
		return nil, err
	}
	var bg string
	if err := o.str("background", &bg); err != nil {
		return nil, err
	}
	if bg != "" {
		if d.Background, err = parseColor(bg); err != nil {
			return nil, fieldErr("background", "%s", err.Error())
		}
	}
	if err := o.length("gap", true, &d.Gap); err != nil {
		return nil, err
	}
	if err := o.length("radius", true, &d.Radius); err != nil {
		return nil, err
	}
	var s string
	if err := o.enum("fit", &s, string(FitCover), string(FitContain)); err != nil {
		return nil, err
	}
	if s != "" {
		d.Fit = Fit(s)
	}
	s = ""
	if err := o.enum("screenshare", &s, string(ScreenshareStage), string(ScreenshareOff)); err != nil {
		return nil, err
	}
	if s != "" {
		d.Screenshare = Screenshare(s)
	}
	if v := t.get("overlays"); v != nil {
		if err := parseOverlays(v, &d.Overlays); err != nil {
			return nil, err
		}
	}
	if err := o.strings("audio_sources", &d.AudioSources); err != nil {
		return nil, err
	}
	if err := o.strings("audio_sources_excluded", &d.AudioSourcesExcluded); err != nil {
		return nil, err
	}
	if v := t.get("trim"); v != nil {
		var b bool
		if err := o.boolean("trim", &b); err != nil {
			return nil, err
		}
		d.Trim = &b
	}
	if err := o.str("resolution", &d.Resolution); err != nil {
		return nil, err
	}
	if err := o.str("format", &d.Format); err != nil {
		return nil, err
	}
	if t.get("video_layout") == nil {
		return nil, fieldErr("video_layout", "missing; a layout needs at least one region, e.g. \"video_layout\": {\"grid\": {\"video_sources\": [\"*\"]}}")
	}
	for _, l := range []struct {
		key string
		dst *[]Region
	}{{"video_layout", &d.VideoLayout}, {"portrait_video_layout", &d.PortraitVideoLayout},
		{"screenshare_layout", &d.ScreenshareLayout}, {"portrait_screenshare_layout", &d.PortraitScreenshareLayout}} {
		v := t.get(l.key)
		if v == nil {
			continue
		}
		if *l.dst, err = parseRegions(v, l.key); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func parseRegions(n *node, path string) ([]Region, error) {
	o, err := asObject(n, path)
	if err != nil {
		return nil, err
	}
	if len(n.keys) == 0 {
		return nil, fieldErr(path, "has no regions; add one, e.g. {\"grid\": {\"video_sources\": [\"*\"]}}")
	}
	if len(n.keys) > maxRegions {
		return nil, fieldErr(path, "has %d regions; at most %d are allowed", len(n.keys), maxRegions)
	}
	regions := make([]Region, 0, len(n.keys))
	for i, name := range n.keys {
		p := join(o.path, name)
		if name == "" || len(name) > 64 {
			return nil, fieldErr(p, "a region's name must be 1 to 64 characters")
		}
		r, err := parseRegion(n.vals[i], p)
		if err != nil {
			return nil, err
		}
		r.Name = name
		regions = append(regions, r)
	}
	return regions, nil
}

func parseRegion(n *node, path string) (Region, error) {
	r := Region{Reuse: ReuseShowOldest, Order: OrderJoin}
	o, err := asObject(n, path)
	if err != nil {
		return r, err
	}
	if err := o.check(regionFields...); err != nil {
		return r, err
	}
	for _, f := range []struct {
		key string
		dst *Length
	}{{"x_pos", &r.X}, {"y_pos", &r.Y}, {"width", &r.Width}, {"height", &r.Height}} {
		if err := o.length(f.key, true, f.dst); err != nil {
			return r, err
		}
	}
	for _, f := range []struct {
		key string
		dst *Length
	}{{"width", &r.Width}, {"height", &r.Height}} {
		if f.dst.Set() && ((f.dst.IsFrac && f.dst.Frac == 0) || (!f.dst.IsFrac && f.dst.Px < 2)) {
			return r, fieldErr(join(path, f.key), "%s is too small: a region is at least 2 pixels", f.dst)
		}
	}
	if err := o.integer("z_pos", -99, 99, &r.Z); err != nil {
		return r, err
	}
	if err := o.integer("max_columns", 1, maxGrid, &r.MaxColumns); err != nil {
		return r, err
	}
	if err := o.integer("max_rows", 1, maxGrid, &r.MaxRows); err != nil {
		return r, err
	}
	if v := n.get("cells_excluded"); v != nil {
		p := join(path, "cells_excluded")
		if v.kind != kArray {
			return r, fieldErr(p, "is %s; it must be a list of cell numbers, e.g. [4] (cells count from 0, row by row)", v.kind)
		}
		if len(v.items) > maxPatterns {
			return r, fieldErr(p, "has %d entries; at most %d are allowed", len(v.items), maxPatterns)
		}
		r.excluded = map[int]bool{}
		for i, it := range v.items {
			c, err := strconv.Atoi(it.s)
			if it.kind != kNumber || !it.isInt || err != nil || c < 0 || c >= maxGrid*maxGrid {
				return r, fieldErr(fmt.Sprintf("%s[%d]", p, i), "%s is not a cell number: cells count from 0 (top left), row by row", describe(it))
			}
			if !r.excluded[c] {
				r.CellsExcluded = append(r.CellsExcluded, c)
			}
			r.excluded[c] = true
		}
		sort.Ints(r.CellsExcluded)
	}
	var s string
	if err := o.enum("reuse", &s, string(ReuseNone), string(ReuseShowOldest), string(ReuseShowNewest)); err != nil {
		return r, err
	}
	if s != "" {
		r.Reuse = Reuse(s)
	}
	if n.get("video_sources") == nil {
		return r, fieldErr(join(path, "video_sources"), "missing; list the sources this region shows, e.g. [\"*\"] for everyone")
	}
	if err := o.strings("video_sources", &r.VideoSources); err != nil {
		return r, err
	}
	if err := o.strings("video_sources_excluded", &r.VideoSourcesExcluded); err != nil {
		return r, err
	}
	for i, src := range r.VideoSources {
		p, err := parsePattern(src)
		if err != nil {
			return r, fieldErr(fmt.Sprintf("%s.video_sources[%d]", path, i), "%s", err.Error())
		}
		r.include = append(r.include, p)
	}
	for i, src := range r.VideoSourcesExcluded {
		p, err := parsePattern(src)
		if err != nil {
			return r, fieldErr(fmt.Sprintf("%s.video_sources_excluded[%d]", path, i), "%s", err.Error())
		}
		r.exclude = append(r.exclude, p)
	}
	s = ""
	if err := o.enum("order", &s, string(OrderJoin), string(OrderSpeaker)); err != nil {
		return r, err
	}
	if s != "" {
		r.Order = Order(s)
	}
	if err := o.boolean("compact", &r.Compact); err != nil {
		return r, err
	}
	if err := o.boolean("center_last_row", &r.CenterLastRow); err != nil {
		return r, err
	}
	var a string
	if err := o.str("tile_aspect", &a); err != nil {
		return r, err
	}
	if a != "" {
		if r.TileAspect, err = parseAspect(a); err != nil {
			return r, fieldErr(join(path, "tile_aspect"), "%s", err.Error())
		}
	}
	s = ""
	if err := o.enum("fit", &s, string(FitCover), string(FitContain)); err != nil {
		return r, err
	}
	r.Fit = Fit(s)
	if err := o.length("radius", true, &r.Radius); err != nil {
		return r, err
	}
	return r, nil
}

var positions = []string{string(TopLeft), string(TopRight), string(BottomLeft), string(BottomRight), string(Top), string(Bottom)}

func parseOverlays(n *node, ov *Overlays) error {
	o, err := asObject(n, "overlays")
	if err != nil {
		return err
	}
	if err := o.check("name_label", "muted_mic", "speaker_border", "initials"); err != nil {
		return err
	}
	for _, b := range []struct {
		key string
		dst *Badge
	}{{"name_label", &ov.NameLabel}, {"muted_mic", &ov.MutedMic}} {
		v := n.get(b.key)
		if v == nil {
			continue
		}
		bo, err := asObject(v, join("overlays", b.key))
		if err != nil {
			return err
		}
		if err := bo.check("show", "position", "size"); err != nil {
			return err
		}
		if err := bo.boolean("show", &b.dst.Show); err != nil {
			return err
		}
		var s string
		if err := bo.enum("position", &s, positions...); err != nil {
			return err
		}
		if s != "" {
			b.dst.Position = Position(s)
		}
		if err := bo.length("size", true, &b.dst.Size); err != nil {
			return err
		}
	}
	if v := n.get("speaker_border"); v != nil {
		bo, err := asObject(v, "overlays.speaker_border")
		if err != nil {
			return err
		}
		if err := bo.check("show", "color", "width"); err != nil {
			return err
		}
		if err := bo.boolean("show", &ov.SpeakerBorder.Show); err != nil {
			return err
		}
		var c string
		if err := bo.str("color", &c); err != nil {
			return err
		}
		if c != "" {
			if ov.SpeakerBorder.Color, err = parseColor(c); err != nil {
				return fieldErr("overlays.speaker_border.color", "%s", err.Error())
			}
		}
		if err := bo.length("width", true, &ov.SpeakerBorder.Width); err != nil {
			return err
		}
	}
	if v := n.get("initials"); v != nil {
		bo, err := asObject(v, "overlays.initials")
		if err != nil {
			return err
		}
		if err := bo.check("show", "size"); err != nil {
			return err
		}
		if err := bo.boolean("show", &ov.Initials.Show); err != nil {
			return err
		}
		if err := bo.length("size", true, &ov.Initials.Size); err != nil {
			return err
		}
	}
	return nil
}

// errNoLayout is wrapped by Resolve's refusals.
var errNoLayout = errors.New("unknown layout")
