package tracks

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/room"
)

// Dir is the recordings' folder in the job's folder, and Manifest the
// manifest's name in it.
const (
	Dir      = "tracks"
	Manifest = "room.yaml"
)

// File is one track's recording.
type File struct {
	PeerID   string
	PeerName string
	TrackID  string
	Kind     room.Kind
	Source   room.Source
	Codec    string // the track's MIME type
	Path     string // relative to the job's folder: tracks/NAME
	Start    time.Duration
}

// Options configure a Recorder.
type Options struct {
	// JobDir is the job's folder; the files go to JobDir/Folder.
	JobDir string
	// Folder is the recordings' folder in it; "" is Dir (tracks). A
	// fleet's later part of a job uses its own (tracks.part2).
	Folder string
	Logger *slog.Logger
	// OnChange is called after each new file, on the goroutine of the
	// track writer whose file opened; it must not block.
	OnChange func([]File)
}

// Recorder makes a job's track Writers and keeps their list and the
// manifest. Its methods are safe from any goroutine.
type Recorder struct {
	dir      string
	folder   string // dir, relative to the job's folder
	log      *slog.Logger
	onChange func([]File)

	mu    sync.Mutex
	peers map[string]*peer  // by id
	order []string          // peer ids, in the order they joined
	used  map[string]bool   // file names taken
	mutes map[string]*mutes // by track id
	files []File
	end   time.Duration // the job's end, once Close has it
}

// mutes are a track's muted spans, in job time; an open one (still muted)
// has To 0.
type mutes struct {
	spans []span
}

type span struct{ from, to time.Duration }

func (m *mutes) set(muted bool, at time.Duration) {
	open := len(m.spans) > 0 && m.spans[len(m.spans)-1].to == 0
	switch {
	case muted && !open:
		m.spans = append(m.spans, span{from: at})
	case !muted && open:
		last := &m.spans[len(m.spans)-1]
		if at <= last.from {
			m.spans = m.spans[:len(m.spans)-1] // muted for no time
			return
		}
		last.to = at
	}
}

// peer is what the manifest keeps of a peer besides its files.
type peer struct {
	name        string
	join, leave time.Duration
	left        bool
}

// New creates the recordings' folder.
func New(opts Options) (*Recorder, error) {
	folder := opts.Folder
	if folder == "" {
		folder = Dir
	}
	dir := filepath.Join(opts.JobDir, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tracks: creating %s: %w", dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{dir: dir, folder: folder, log: log, onChange: opts.OnChange, peers: map[string]*peer{}, mutes: map[string]*mutes{}, used: map[string]bool{}}, nil
}

// AddPeer records that the peer joined at job time at: its name names its
// files, and the manifest lists peers in the order they joined (the order
// of their tiles) with their join times.
func (r *Recorder) AddPeer(p room.Peer, at time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ps := r.peers[p.ID]; ps != nil {
		// Back after leaving: the manifest's peer stays until its last
		// leave.
		ps.left = false
		return
	}
	r.peers[p.ID] = &peer{name: p.Name, join: at}
	r.order = append(r.order, p.ID)
}

// RemovePeer records that the peer left at job time at.
func (r *Recorder) RemovePeer(id string, at time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ps := r.peers[id]; ps != nil {
		ps.left, ps.leave = true, at
	}
}

// SetMuted records that the track was muted or unmuted at job time at: the
// manifest mutes it there too, so that the re-composition shows what the
// live composite showed rather than a frozen picture.
func (r *Recorder) SetMuted(trackID string, muted bool, at time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.mutes[trackID]; m != nil {
		m.set(muted, at)
	}
}

// Writer returns the writer of one track, whose goroutine runs until its
// Close. Its file is named
// PEER-SOURCE-TRACK (cam, mic or screen), each part reduced to letters,
// digits, '_' and '-', with a number added if a file had that name.
func (r *Recorder) Writer(info room.TrackInfo) (*Writer, error) {
	c, err := codecOf(info.Codec.MimeType)
	if err != nil {
		return nil, fmt.Errorf("tracks: track %s: %w", info.ID, err)
	}
	r.mu.Lock()
	var name string
	var join time.Duration
	if ps := r.peers[info.PeerID]; ps != nil {
		name, join = ps.name, ps.join
	}
	m := &mutes{}
	if info.Muted {
		// Added muted: from the peer's join, which the file room reads
		// as a track that starts muted.
		m.set(true, join)
	}
	r.mutes[info.ID] = m
	if name == "" {
		name = info.PeerID
	}
	peerName := name
	base := safeName(name) + "-" + sourceName(info) + "-" + safeName(info.ID)
	name = base + c.ext
	for i := 2; r.used[name]; i++ {
		name = fmt.Sprintf("%s-%d%s", base, i, c.ext)
	}
	r.used[name] = true
	r.mu.Unlock()
	f := File{PeerID: info.PeerID, PeerName: peerName, TrackID: info.ID, Kind: info.Kind, Source: info.Source,
		Codec: info.Codec.MimeType, Path: r.folder + "/" + name}
	w := newWriter(filepath.Join(r.dir, name), c, r.log.With("track", info.ID, "file", f.Path))
	w.opened = func(start time.Duration) {
		f.Start = start
		r.add(f)
	}
	return w, nil
}

func (r *Recorder) add(f File) {
	r.mu.Lock()
	r.files = append(r.files, f)
	files := slices.Clone(r.files)
	err := r.writeManifest()
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("track manifest not written", "err", err)
	}
	if r.onChange != nil {
		r.onChange(files)
	}
}

// Files lists the files opened so far, in the order they opened.
func (r *Recorder) Files() []File {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.files)
}

// Close writes the manifest a last time; end is the job's end, where a mute
// still on ends. The Writers are their pipelines' to close.
func (r *Recorder) Close(end time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.end = end
	if len(r.files) == 0 {
		return nil
	}
	return r.writeManifest()
}

func sourceName(info room.TrackInfo) string {
	switch {
	case info.Source == room.SourceScreen:
		return "screen"
	case info.Kind == room.KindAudio:
		return "mic"
	}
	return "cam"
}

// safeName keeps letters, digits, '_' and '-' (the characters of job ids),
// and turns anything else into '_'.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	out := strings.Trim(string(b), "_")
	if out == "" {
		return "track"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}
