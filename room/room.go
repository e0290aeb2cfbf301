package room

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// ErrInvalid marks a room that cannot be opened because of what its
// meetingUrl names (a file room's manifest, media outside the rooms
// folder), not because of the network or the server: a job's caller gets
// it back as a bad input to fix, not as a failure to retry.
var ErrInvalid = errors.New("invalid room")

// Kind is a track's media kind.
type Kind string

// Track kinds.
const (
	KindAudio Kind = "audio"
	KindVideo Kind = "video"
)

// Source is where a track comes from, in the contract's terms.
type Source string

// Track sources.
const (
	SourceRegular Source = "regular" // camera or microphone
	SourceScreen  Source = "screen"  // screen share (video or its audio)
	SourcePlugin  Source = "plugin"
)

// Peer is a room participant other than the recorder itself.
type Peer struct {
	ID       string
	Name     string
	Role     string
	Metadata string
}

// Codec describes a track's RTP payload. MimeType uses WebRTC's spelling
// ("video/VP8", "video/VP9", "video/H264", "video/AV1", "audio/opus").
type Codec struct {
	MimeType    string
	ClockRate   uint32
	Channels    uint16
	PayloadType uint8
	SDPFmtpLine string
}

// TrackInfo is the static description of a track.
type TrackInfo struct {
	ID     string
	PeerID string
	Kind   Kind
	Source Source
	Codec  Codec
	Muted  bool // muted when it was added
}

// MaxPacketSize is the size of buffer a Track's Read needs for any packet
// the network can deliver: an Ethernet MTU.
const MaxPacketSize = 1500

// Track is one remote track. Read and ReadRTCP block until data arrives,
// and return io.EOF once the track has ended or the room was closed. A track's
// reader must keep calling Read until it returns an error: in fast mode the
// file room moves its clock only when every reader has come back for more.
type Track interface {
	Info() TrackInfo
	// Read fills b with the next RTP packet, marshalled, as the network
	// delivered it (possibly reordered, duplicated or lost), and returns its
	// length. Reading into the caller's buffer, as pion's TrackRemote.Read
	// does, keeps the per-packet path free of allocations. A b shorter than
	// the packet gives io.ErrShortBuffer; MaxPacketSize always suffices.
	Read(b []byte) (n int, err error)
	// ReadRTCP returns the RTCP the sender sent for this track; sender
	// reports map RTP time to the sender's NTP wall clock.
	ReadRTCP() ([]rtcp.Packet, error)
	// RequestKeyframe asks the sender for a keyframe (a PLI). It never blocks.
	RequestKeyframe() error
}

// EventType names a room event.
type EventType string

// Room events, after the contract's peer and track updates.
const (
	PeerJoined     EventType = "peerJoined"
	PeerLeft       EventType = "peerLeft"
	PeerUpdated    EventType = "peerUpdated" // role, metadata or name changed
	TrackAdded     EventType = "trackAdded"
	TrackRemoved   EventType = "trackRemoved"
	TrackMuted     EventType = "trackMuted"
	TrackUnmuted   EventType = "trackUnmuted"
	TrackDegraded  EventType = "trackDegraded"
	TrackRestored  EventType = "trackRestored"
	ActiveSpeakers EventType = "activeSpeakers"
	// Reconnecting and Reconnected report the recorder's own connection.
	Reconnecting EventType = "reconnecting"
	Reconnected  EventType = "reconnected"
)

// Speaker is one entry of an active-speaker update. Level is 1..100.
type Speaker struct {
	PeerID  string
	TrackID string
	Level   int
}

// Event is one room update. Peer is set for peer events and names the owner
// for track events. Track is set for TrackAdded; the other track events carry
// TrackID.
type Event struct {
	Type     EventType
	Peer     Peer
	Track    Track
	TrackID  string
	Speakers []Speaker
}

func (e Event) String() string {
	switch e.Type {
	case TrackAdded:
		i := e.Track.Info()
		return fmt.Sprintf("%s peer=%s track=%s %s/%s %s", e.Type, e.Peer.ID, i.ID, i.Kind, i.Source, i.Codec.MimeType)
	case ActiveSpeakers:
		return fmt.Sprintf("%s %v", e.Type, e.Speakers)
	case PeerJoined, PeerLeft, PeerUpdated:
		return fmt.Sprintf("%s peer=%s name=%q", e.Type, e.Peer.ID, e.Peer.Name)
	default:
		return fmt.Sprintf("%s peer=%s track=%s", e.Type, e.Peer.ID, e.TrackID)
	}
}

// Room is a connector. Start joins the room and returns once joined (or with
// an error that says why not); ctx bounds the room's whole life, not just the
// join, so callers that want a join timeout enforce it themselves (and Close
// the room when it passes). Events then flow until the room ends or Close
// is called, and the channel is closed; Err then tells why the room ended
// (nil when Close ended it).
type Room interface {
	Start(ctx context.Context) error
	Events() <-chan Event
	Err() error
	Close() error
}

// Timeline is implemented by rooms whose senders' NTP clocks are the job's
// own clock (the file room). For them, NTP time t maps to job time
// t.Sub(Epoch()) exactly, and the pipeline needs no arrival-time estimate.
type Timeline interface {
	Epoch() time.Time
}

// VideoSizer is implemented by rooms that can choose what a sender sends,
// such as a simulcast layer: the worker tells it the size each video track
// is shown at, whenever the layout changes.
type VideoSizer interface {
	SetVideoSize(trackID string, width, height int) error
}

// ReadRTP reads t's next packet into a new rtp.Packet. It allocates, so it
// is for tests and tools, not for the per-packet path.
func ReadRTP(t Track) (*rtp.Packet, error) {
	b := make([]byte, MaxPacketSize)
	n, err := t.Read(b)
	if err != nil {
		return nil, err
	}
	p := &rtp.Packet{}
	if err := p.Unmarshal(b[:n]); err != nil {
		return nil, fmt.Errorf("room: track %s: %w", t.Info().ID, err)
	}
	return p, nil
}

// DrainRTCP is how a connector's Track.ReadRTCP answers from its queue of
// RTCP packets: it waits for one, then takes every other one queued behind
// it, or returns io.EOF once done is closed (the track ended).
func DrainRTCP(queue <-chan rtcp.Packet, done <-chan struct{}) ([]rtcp.Packet, error) {
	select {
	case p := <-queue:
		out := []rtcp.Packet{p}
		for {
			select {
			case p := <-queue:
				out = append(out, p)
			default:
				return out, nil
			}
		}
	case <-done:
		return nil, io.EOF
	}
}
