package layout

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"image/color"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed presets/*.json
var presetFiles embed.FS

// defaultBackground is the canvas colour when a document gives none.
var defaultBackground = color.RGBA{R: 0x10, G: 0x14, B: 0x18, A: 0xff}

// presetAliases maps older names to presets.
var presetAliases = map[string]string{"screen": "screenshare"}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	ents, _ := presetFiles.ReadDir("presets")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(names)
	return names
}

// Preset returns a preset by name (or alias), freshly parsed.
func Preset(name string) (*Document, error) {
	data, err := PresetSource(name)
	if err != nil {
		return nil, err
	}
	d, err := Parse(data, FormatJSON)
	if err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	return d, nil
}

// PresetSource returns a preset's document as shipped (JSON).
func PresetSource(name string) ([]byte, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := presetAliases[n]; ok {
		n = a
	}
	if n == "" || strings.ContainsAny(n, "/\\.") {
		return nil, unknownPreset(name)
	}
	data, err := presetFiles.ReadFile("presets/" + n + ".json")
	if err != nil {
		return nil, unknownPreset(name)
	}
	return data, nil
}

func unknownPreset(name string) error {
	return fmt.Errorf("%w %q: use one of %s (or screen for screenshare), or give a layout document", errNoLayout, name, strings.Join(PresetNames(), ", "))
}

// IsUnknown reports whether err is Resolve's or Preset's refusal of a name.
func IsUnknown(err error) bool {
	return err != nil && strings.Contains(err.Error(), errNoLayout.Error())
}

// Resolve takes what a user gave as a layout: a preset name, or a whole
// document (JSON or YAML text). The empty string is the grid preset.
func Resolve(s string) (*Document, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Preset("grid")
	}
	if strings.ContainsAny(t, "{:\n") {
		return Parse([]byte(t), FormatAuto)
	}
	return Preset(t)
}

// ResolveJSON takes a layout from a JSON body: a string is a preset name, an
// object a document.
func ResolveJSON(raw []byte) (*Document, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return Preset(name)
	}
	return Parse(raw, FormatJSON)
}

// JSON returns the document as written, indented.
func (d *Document) JSON() ([]byte, error) {
	var compact, out bytes.Buffer
	d.tree.writeJSON(&compact)
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("layout: encoding JSON: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// YAML returns the document as written, in YAML.
func (d *Document) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(d.tree.toYAML()); err != nil {
		return nil, fmt.Errorf("layout: encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("layout: encoding YAML: %w", err)
	}
	return b.Bytes(), nil
}
