package file

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/roomcast/roomcast/room"
	"gopkg.in/yaml.v3"
)

// Manifest is a validated file-room manifest with its media probed.
type Manifest struct {
	Path  string // the manifest file, as given
	Peers []PeerSpec

	root string // LoadIn's folder, symlinks resolved; "" for Load
}

// PeerSpec is one peer of a manifest.
type PeerSpec struct {
	ID       string // "PA_<name>" unless the manifest gives one
	Name     string
	Role     string
	Metadata string
	Media    *MediaFile
	// Audio, when set, is the file whose audio stream is the peer's
	// microphone; Media's audio stream, if any, is then not sent.
	Audio  *MediaFile
	Screen *MediaFile // nil without a screen share
	Join   time.Duration
	// How long after Join each file's time 0 plays: 0 unless the manifest
	// gives mediaStart, audioStart or screenStart (job times). Track files
	// recorded on a call start when their first packet came, each at its
	// own offset.
	MediaOffset, AudioOffset, ScreenOffset time.Duration
	// Leave is when the peer leaves; zero means when its media ends (a
	// real leave is always after Join, so zero is never a valid one).
	Leave     time.Duration
	MuteVideo []Interval // job times at which the camera track is muted
	MuteAudio []Interval
}

// Interval is a half-open span of job time [From, To).
type Interval struct {
	From, To time.Duration
}

// End returns when the peer leaves by its media alone, or by its Leave time.
func (p *PeerSpec) End() time.Duration {
	end := p.Join + p.MediaOffset + p.Media.Duration
	if p.Audio != nil {
		end = max(end, p.Join+p.AudioOffset+p.Audio.Duration)
	}
	if p.Screen != nil {
		end = max(end, p.Join+p.ScreenOffset+p.Screen.Duration)
	}
	if p.Leave > 0 {
		end = min(end, p.Leave)
	}
	return end
}

// peerFields lists the fields a peer may have, in the order the error
// messages give them.
var peerFields = []string{"name", "id", "role", "metadata", "media", "mediaStart", "audio", "audioStart", "screen", "screenStart", "join", "leave", "muteVideo", "muteAudio"}

type manifestYAML struct {
	Peers []peerYAML `yaml:"peers"`
}

type peerYAML struct {
	Name        string         `yaml:"name"`
	ID          string         `yaml:"id"`
	Role        string         `yaml:"role"`
	Metadata    string         `yaml:"metadata"`
	Media       string         `yaml:"media"`
	MediaStart  string         `yaml:"mediaStart"`
	Audio       string         `yaml:"audio"`
	AudioStart  string         `yaml:"audioStart"`
	Screen      string         `yaml:"screen"`
	ScreenStart string         `yaml:"screenStart"`
	Join        string         `yaml:"join"`
	Leave       string         `yaml:"leave"`
	MuteVideo   []intervalYAML `yaml:"muteVideo"`
	MuteAudio   []intervalYAML `yaml:"muteAudio"`
}

type intervalYAML struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Load reads, validates and probes a manifest. Every error names the
// manifest, the peer, the field and what would be accepted.
func Load(manifestPath string) (*Manifest, error) {
	return LoadIn(manifestPath, "")
}

// LoadIn is Load for a manifest someone else chose: every media file it
// names must lie in the folder root once symlinks are resolved, so that
// neither "..", an absolute path nor a link makes a job read a file from
// elsewhere. root "" allows any path, as Load.
func LoadIn(manifestPath, root string) (*Manifest, error) {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, invalidError{fmt.Errorf("file room: read manifest: %w", err)}
	}
	m := &Manifest{Path: manifestPath}
	if root != "" {
		if m.root, err = filepath.EvalSymlinks(root); err != nil {
			return nil, fmt.Errorf("file room: the rooms folder: %w", err)
		}
	}
	if err := m.parse(b, probeMedia); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifest) errorf(format string, args ...any) error {
	return invalidError{fmt.Errorf("file room: manifest %s: "+format, append([]any{m.Path}, args...)...)}
}

// invalidError is an error in a manifest: errors.Is(err, room.ErrInvalid)
// holds, and its text and cause are the wrapped error's.
type invalidError struct{ error }

func (e invalidError) Unwrap() error { return e.error }

func (e invalidError) Is(target error) bool { return target == room.ErrInvalid }

// prober opens a media file and checks its streams: probeMedia for Load,
// a memo of it for the fuzz target, which would otherwise spend its time in
// FFmpeg rather than in the parser.
type prober func(path string, screen bool) (*MediaFile, error)

func (m *Manifest) parse(b []byte, probe prober) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return m.errorf("invalid YAML: %v", err)
	}
	// Check the keys on the node tree first: yaml.v3's own unknown-field
	// error names neither the peer nor the fields that are allowed.
	if err := m.checkKeys(&root); err != nil {
		return err
	}
	var raw manifestYAML
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return m.errorf("%v (peers is a list of mappings with fields %s; durations are strings such as 3s)", err, strings.Join(peerFields, ", "))
	}
	if len(raw.Peers) == 0 {
		return m.errorf("no peers: add at least one entry under \"peers:\" with a name and a media file")
	}
	dir := filepath.Dir(m.Path)
	names := map[string]int{}
	ids := map[string]int{}
	for i := range raw.Peers {
		p, err := m.peer(i, &raw.Peers[i], dir, probe)
		if err != nil {
			return err
		}
		if j, ok := names[p.Name]; ok {
			return m.errorf("peers[%d] %q: field name: duplicate name %q, already used by peers[%d]; names must be unique", i, p.Name, p.Name, j)
		}
		names[p.Name] = i
		if j, ok := ids[p.ID]; ok {
			return m.errorf("peers[%d] %q: field id: duplicate peer id %q, already used by peers[%d]; give each peer a unique id (or none, for PA_<name>)", i, p.Name, p.ID, j)
		}
		ids[p.ID] = i
		m.Peers = append(m.Peers, *p)
	}
	return nil
}

// checkKeys rejects unknown fields with the peer and the allowed list.
func (m *Manifest) checkKeys(root *yaml.Node) error {
	if root.Kind == 0 || len(root.Content) == 0 {
		return m.errorf("no peers: the file is empty; add a \"peers:\" list")
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return m.errorf("line %d: the top level must be a mapping with a \"peers:\" list", doc.Line)
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k := doc.Content[i]
		if k.Value != "peers" {
			return m.errorf("line %d: unknown top-level field %q; the only field is \"peers\"", k.Line, k.Value)
		}
		peers := doc.Content[i+1]
		if peers.Kind != yaml.SequenceNode {
			if peers.Tag == "!!null" {
				continue // "peers:" with nothing: reported as no peers
			}
			return m.errorf("line %d: field peers must be a list of peers (\"- name: ...\")", peers.Line)
		}
		for j, pn := range peers.Content {
			if pn.Kind != yaml.MappingNode {
				return m.errorf("peers[%d] (line %d): a peer must be a mapping with fields %s", j, pn.Line, strings.Join(peerFields, ", "))
			}
			name := ""
			for k := 0; k+1 < len(pn.Content); k += 2 {
				if pn.Content[k].Value == "name" {
					name = pn.Content[k+1].Value
				}
			}
			for k := 0; k+1 < len(pn.Content); k += 2 {
				key := pn.Content[k]
				if !slices.Contains(peerFields, key.Value) {
					return m.errorf("peers[%d] %q: unknown field %q at line %d; allowed fields: %s", j, name, key.Value, key.Line, strings.Join(peerFields, ", "))
				}
				if key.Value == "muteVideo" || key.Value == "muteAudio" {
					if err := m.checkIntervalKeys(j, name, key.Value, pn.Content[k+1]); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func (m *Manifest) checkIntervalKeys(i int, name, field string, n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return m.errorf("peers[%d] %q: field %s (line %d) must be a list such as [{from: 3s, to: 6s}]", i, name, field, n.Line)
	}
	for j, in := range n.Content {
		if in.Kind != yaml.MappingNode {
			return m.errorf("peers[%d] %q: field %s[%d] (line %d) must be a mapping such as {from: 3s, to: 6s}", i, name, field, j, in.Line)
		}
		for k := 0; k+1 < len(in.Content); k += 2 {
			if key := in.Content[k]; key.Value != "from" && key.Value != "to" {
				return m.errorf("peers[%d] %q: field %s[%d]: unknown field %q at line %d; allowed fields: from, to", i, name, field, j, key.Value, key.Line)
			}
		}
	}
	return nil
}

func (m *Manifest) peer(i int, y *peerYAML, dir string, probe prober) (*PeerSpec, error) {
	p := &PeerSpec{Name: y.Name, ID: y.ID, Role: y.Role, Metadata: y.Metadata}
	where := fmt.Sprintf("peers[%d] %q", i, y.Name)
	if p.Name == "" {
		return nil, m.errorf("%s: field name is missing or empty; every peer needs a unique name", where)
	}
	if p.ID == "" {
		if strings.ContainsAny(p.Name, "/\x00\n\r\t") {
			return nil, m.errorf("%s: field name %q contains '/' or a control character, which cannot be part of the peer id PA_<name>; rename it or give an id", where, p.Name)
		}
		p.ID = "PA_" + p.Name
	} else if strings.ContainsAny(p.ID, "/\x00\n\r\t ") {
		return nil, m.errorf("%s: field id %q contains '/', a space or a control character; track ids are \"<id>/video\", so use letters, digits, '_' or '-'", where, p.ID)
	}

	var err error
	if p.Join, err = m.duration(where, "join", y.Join); err != nil {
		return nil, err
	}
	if p.Join < 0 {
		return nil, m.errorf("%s: field join is %q: a peer cannot join before the job starts; use 0s or later", where, y.Join)
	}
	if y.Leave != "" {
		if p.Leave, err = m.duration(where, "leave", y.Leave); err != nil {
			return nil, err
		}
		if p.Leave <= p.Join {
			return nil, m.errorf("%s: field leave is %q, not after join %q; leave must be later than join, or omitted to stay until the media ends", where, y.Leave, orZero(y.Join))
		}
	}

	if y.Media == "" {
		return nil, m.errorf("%s: field media is missing; give the peer's media file (video and/or audio; VP8, VP9, H.264 or AV1 video, Opus audio), relative to the manifest's folder", where)
	}
	if p.Media, err = m.probe(where, "media", dir, y.Media, probe); err != nil {
		return nil, err
	}
	if y.Audio != "" {
		if p.Audio, err = m.probe(where, "audio", dir, y.Audio, probe); err != nil {
			return nil, err
		}
		if p.Audio.Audio == nil {
			return nil, m.errorf("%s: field audio: %s has no audio stream; give a file with an Opus audio stream, or drop audio and use media's", where, y.Audio)
		}
	}
	if y.Screen != "" {
		if p.Screen, err = m.probe(where, "screen", dir, y.Screen, probe); err != nil {
			return nil, err
		}
	}
	for _, st := range []struct {
		field, file, value string
		dst                *time.Duration
	}{{"mediaStart", "media", y.MediaStart, &p.MediaOffset}, {"audioStart", "audio", y.AudioStart, &p.AudioOffset}, {"screenStart", "screen", y.ScreenStart, &p.ScreenOffset}} {
		if st.value == "" {
			continue
		}
		if st.file != "media" && (st.file == "audio" && y.Audio == "" || st.file == "screen" && y.Screen == "") {
			return nil, m.errorf("%s: field %s is set without %s; give the %s file or remove %s", where, st.field, st.file, st.file, st.field)
		}
		d, err := m.duration(where, st.field, st.value)
		if err != nil {
			return nil, err
		}
		if d < p.Join {
			return nil, m.errorf("%s: field %s is %q, before join %q; a file starts when its peer has joined or later", where, st.field, st.value, orZero(y.Join))
		}
		*st.dst = d - p.Join
	}
	if p.Leave > 0 {
		for _, st := range []struct {
			field string
			at    time.Duration
			set   bool
		}{{"mediaStart", p.Join + p.MediaOffset, y.MediaStart != ""}, {"audioStart", p.Join + p.AudioOffset, y.AudioStart != ""}, {"screenStart", p.Join + p.ScreenOffset, y.ScreenStart != ""}} {
			if st.set && st.at >= p.Leave {
				return nil, m.errorf("%s: field %s is %v, not before leave %q; the file would never play", where, st.field, st.at, y.Leave)
			}
		}
	}

	if p.MuteVideo, err = m.intervals(where, "muteVideo", y.MuteVideo); err != nil {
		return nil, err
	}
	if len(p.MuteVideo) > 0 && p.Media.Video == nil {
		return nil, m.errorf("%s: field muteVideo: media %s has no video track to mute; remove muteVideo", where, y.Media)
	}
	if p.MuteAudio, err = m.intervals(where, "muteAudio", y.MuteAudio); err != nil {
		return nil, err
	}
	if len(p.MuteAudio) > 0 && p.Media.Audio == nil && p.Audio == nil {
		return nil, m.errorf("%s: field muteAudio: media %s has no audio track to mute (and no audio file is given); remove muteAudio", where, y.Media)
	}
	return p, nil
}

func orZero(s string) string {
	if s == "" {
		return "0s"
	}
	return s
}

// duration parses a Go duration string; "" is zero.
func (m *Manifest) duration(where, field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, m.errorf("%s: field %s: bad duration %q; use a number with a unit, such as 0s, 3s, 1.5s or 500ms", where, field, s)
	}
	return d, nil
}

func (m *Manifest) intervals(where, field string, ys []intervalYAML) ([]Interval, error) {
	var out []Interval
	for j, y := range ys {
		f := fmt.Sprintf("%s[%d]", field, j)
		if y.From == "" || y.To == "" {
			return nil, m.errorf("%s: field %s needs both from and to, such as {from: 3s, to: 6s}", where, f)
		}
		from, err := m.duration(where, f+".from", y.From)
		if err != nil {
			return nil, err
		}
		to, err := m.duration(where, f+".to", y.To)
		if err != nil {
			return nil, err
		}
		if from < 0 || to <= from {
			return nil, m.errorf("%s: field %s is from %q to %q; from must be 0s or later and to after from", where, f, y.From, y.To)
		}
		out = append(out, Interval{From: from, To: to})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].From < out[b].From })
	for j := 1; j < len(out); j++ {
		if out[j].From < out[j-1].To {
			return nil, m.errorf("%s: field %s: intervals %v-%v and %v-%v overlap; merge them", where, field, out[j-1].From, out[j-1].To, out[j].From, out[j].To)
		}
	}
	return out, nil
}

// probe opens a media file and checks its streams.
func (m *Manifest) probe(where, field, dir, rel string, probe prober) (*MediaFile, error) {
	path := rel
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, rel)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, m.errorf("%s: field %s: file %s not found (looked for %s; paths are relative to the manifest's folder)", where, field, rel, path)
		}
		return nil, m.errorf("%s: field %s: %v", where, field, err)
	}
	if m.root != "" {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, m.errorf("%s: field %s: %v", where, field, err)
		}
		if r, err := filepath.Rel(m.root, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return nil, m.errorf("%s: field %s: file %s is outside the rooms folder; media must lie in it", where, field, rel)
		}
		path = real
	}
	mf, err := probe(path, field == "screen")
	if err != nil {
		return nil, m.errorf("%s: field %s: %v", where, field, err)
	}
	return mf, nil
}
