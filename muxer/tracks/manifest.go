package tracks

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/roomcast/roomcast/room"
)

// manifestPeer is one peer of the file-room manifest (room/file's format):
// its camera (or, without one, its microphone) as media, its microphone as
// audio, its screen share as screen, each with the job time its file starts
// at when that is not the peer's join.
type manifestPeer struct {
	Name        string `yaml:"name"`
	ID          string `yaml:"id"`
	Join        string `yaml:"join"`
	Leave       string `yaml:"leave,omitempty"`
	Media       string `yaml:"media"`
	MediaStart  string `yaml:"mediaStart,omitempty"`
	Audio       string `yaml:"audio,omitempty"`
	AudioStart  string `yaml:"audioStart,omitempty"`
	Screen      string `yaml:"screen,omitempty"`
	ScreenStart string `yaml:"screenStart,omitempty"`
	MuteVideo   []mute `yaml:"muteVideo,omitempty"`
	MuteAudio   []mute `yaml:"muteAudio,omitempty"`
}

type mute struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// muteSpans gives the track's mutes as the manifest's intervals. One still
// on ends when the peer left, or at the job's end; while the job runs, a
// day later (the longest a job can run is far less).
func (r *Recorder) muteSpans(trackID string, leave time.Duration) []mute {
	m := r.mutes[trackID]
	if m == nil {
		return nil
	}
	var out []mute
	for _, sp := range m.spans {
		to := sp.to
		if to == 0 {
			switch {
			case leave > sp.from:
				to = leave
			case r.end > sp.from:
				to = r.end
			default:
				to = sp.from + 24*time.Hour
			}
		}
		if to > sp.from {
			out = append(out, mute{From: dur(max(sp.from, 0)), To: dur(to)})
		}
	}
	return out
}

// manifest builds the file room that re-composes the meeting from files:
// peers in the order they joined, each joining when it did (or at its first
// file's start, if earlier) and leaving when it left. A track published
// again (a second file of the same kind and source) is listed in the state
// but not here: a file-room peer has one file of each.
func (r *Recorder) manifest() []byte {
	files := r.files
	type peerFiles struct {
		id, name         string
		cam, mic, screen *File
	}
	var order []*peerFiles
	byID := map[string]*peerFiles{}
	for _, id := range r.order {
		p := &peerFiles{id: id, name: r.peers[id].name}
		byID[id] = p
		order = append(order, p)
	}
	for i := range files {
		f := &files[i]
		p := byID[f.PeerID]
		if p == nil {
			// A track before (or without) its peer's join event.
			p = &peerFiles{id: f.PeerID, name: f.PeerName}
			byID[f.PeerID] = p
			order = append(order, p)
		}
		slot := &p.cam
		switch {
		case f.Source == room.SourceScreen:
			if f.Kind != room.KindVideo {
				continue // a screen's audio: the file room has no such track
			}
			slot = &p.screen
		case f.Kind == room.KindAudio:
			slot = &p.mic
		}
		if *slot == nil {
			*slot = f
		}
	}
	var doc struct {
		Peers []manifestPeer `yaml:"peers"`
	}
	names := map[string]bool{}
	for _, p := range order {
		media, other := p.cam, p.mic
		if media == nil {
			media, other = p.mic, nil
		}
		if media == nil {
			continue // a screen alone: the file room needs a media file
		}
		join := media.Start
		for _, f := range []*File{other, p.screen} {
			if f != nil {
				join = min(join, f.Start)
			}
		}
		var leave time.Duration
		if ps := r.peers[p.id]; ps != nil {
			join = min(join, ps.join)
		}
		// Opus pre-roll puts a file's first packet a few milliseconds
		// before the job's start; the file room starts no file before 0.
		join = max(join, 0)
		if ps := r.peers[p.id]; ps != nil {
			if ps.left && ps.leave > join {
				leave = ps.leave
			}
		}
		name := strings.Map(func(r rune) rune {
			if r == '/' || r < ' ' {
				return '_'
			}
			return r
		}, p.name)
		if name == "" {
			name = p.id
		}
		for i, base := 2, name; names[name]; i++ {
			name = fmt.Sprintf("%s (%d)", base, i)
		}
		names[name] = true
		id := p.id
		if strings.ContainsAny(id, "/\x00\n\r\t ") {
			id = safeName(id)
		}
		mp := manifestPeer{Name: name, ID: id, Join: dur(join), Media: path.Base(media.Path), MediaStart: start(media, join)}
		if leave > 0 {
			mp.Leave = dur(leave)
		}
		if other != nil {
			mp.Audio, mp.AudioStart = path.Base(other.Path), start(other, join)
		}
		if p.cam != nil {
			mp.MuteVideo = r.muteSpans(p.cam.TrackID, leave)
		}
		if p.mic != nil {
			mp.MuteAudio = r.muteSpans(p.mic.TrackID, leave)
		}
		if p.screen != nil {
			mp.Screen, mp.ScreenStart = path.Base(p.screen.Path), start(p.screen, join)
		}
		doc.Peers = append(doc.Peers, mp)
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		// Strings only: Marshal cannot fail on them.
		panic(fmt.Sprintf("tracks: manifest: %v", err))
	}
	return append([]byte("# Written by roomcast --tracks: re-composes the meeting from its track files.\n"), b...)
}

// dur writes a manifest time to the microsecond: the clock's nanoseconds
// are below any frame or sample, and would write 1.499999999s for a join at
// 1.5 s.
func dur(d time.Duration) string { return d.Round(time.Microsecond).String() }

func start(f *File, join time.Duration) string {
	if f.Start <= join {
		return ""
	}
	return dur(f.Start)
}

// writeManifest replaces room.yaml atomically: a reader sees the old one or
// the new one, never half of one.
func (r *Recorder) writeManifest() error {
	final := filepath.Join(r.dir, Manifest)
	tmp, err := os.CreateTemp(r.dir, ".room-*.yaml")
	if err != nil {
		return fmt.Errorf("tracks: manifest: %w", err)
	}
	_, err = tmp.Write(r.manifest())
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("tracks: manifest %s: %w", final, err)
	}
	return nil
}
