package livekit

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
)

// The SFU does not tell a subscriber which simulcast layer it forwards, so
// the connector reads it off the stream: every VP8 keyframe carries its
// size, and the size names the layer among those the publication offers.
// (Browsers publish VP8 unless told otherwise; other codecs report no
// layer.)

// layerWatch is what Read notes of a video track's keyframes. Read writes
// it, the loop reads it; it is atomics only, as Read allocates nothing.
type layerWatch struct {
	size    atomic.Uint32 // width<<16 | height of the latest keyframe; 0 none yet
	changed atomic.Int64  // UnixNano when size last changed
	changes atomic.Int32  // how many times it changed after the first
	logged  uint32        // the size the loop last logged; loop only
}

// see takes one RTP payload of a VP8 track.
func (w *layerWatch) see(payload []byte) {
	width, height, ok := vp8KeyframeSize(payload)
	if !ok {
		return
	}
	v := uint32(width)<<16 | uint32(height)
	old := w.size.Load()
	if old == v {
		return
	}
	w.changed.Store(time.Now().UnixNano())
	if old != 0 {
		w.changes.Add(1)
	}
	w.size.Store(v)
}

// vp8KeyframeSize reads the size from a packet that starts a VP8 keyframe
// (RFC 7741's payload descriptor, then the frame's own header).
func vp8KeyframeSize(p []byte) (w, h int, ok bool) {
	if len(p) < 1 {
		return 0, 0, false
	}
	b0 := p[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S: start of a partition; PID 0
		return 0, 0, false
	}
	i := 1
	if b0&0x80 != 0 { // X: extension byte
		if len(p) < 2 {
			return 0, 0, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return 0, 0, false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	f := p[min(i, len(p)):]
	// Frame tag bit 0 is 0 for a keyframe, which then carries the start
	// code 9d 01 2a and the 14-bit width and height.
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(binary.LittleEndian.Uint16(f[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(f[8:10]) & 0x3fff), true
}

// VideoLayer is the simulcast layer a video track is received at.
type VideoLayer struct {
	PeerID, TrackID string
	// Quality is LiveKit's name of the layer the size matches among the
	// publication's (low, medium, high); empty when it matches none, or
	// before the first keyframe.
	Quality string
	// Top says the layer is the publication's largest.
	Top           bool
	Width, Height int
	// Since is when the track started at this size; Changes counts the
	// switches after the first keyframe.
	Since   time.Time
	Changes int
}

// layerOf names a received size among a publication's layers.
func layerOf(info *lkproto.TrackInfo, w, h int) (quality string, top bool) {
	if info == nil {
		return "", false
	}
	//lint:ignore SA1019 servers fill both this and Codecs[].Layers; older ones only this
	layers := info.GetLayers()
	for _, c := range info.GetCodecs() {
		if len(c.GetLayers()) > 0 {
			layers = c.GetLayers()
			break
		}
	}
	var maxW uint32
	for _, l := range layers {
		maxW = max(maxW, l.GetWidth())
	}
	for _, l := range layers {
		if int(l.GetWidth()) == w && int(l.GetHeight()) == h {
			return strings.ToLower(l.GetQuality().String()), l.GetWidth() == maxW
		}
	}
	return "", false
}

// layer reports t's received layer; ok is false before its first keyframe
// and for tracks whose layer is not watched.
func (t *track) layer() (VideoLayer, bool) {
	if t.layers == nil {
		return VideoLayer{}, false
	}
	v := t.layers.size.Load()
	if v == 0 {
		return VideoLayer{}, false
	}
	l := VideoLayer{PeerID: t.info.PeerID, TrackID: t.info.ID, Width: int(v >> 16), Height: int(v & 0xffff),
		Since: time.Unix(0, t.layers.changed.Load()), Changes: int(t.layers.changes.Load())}
	l.Quality, l.Top = layerOf(t.pub.TrackInfo(), l.Width, l.Height)
	return l, true
}

// VideoLayers reports, for each video track whose layer is known, the
// layer it is received at. Safe to call at any time.
func (r *Room) VideoLayers() []VideoLayer {
	var out []VideoLayer
	for _, t := range r.allTracks() {
		if l, ok := t.layer(); ok {
			out = append(out, l)
		}
	}
	return out
}

// ReportVideoLayers is VideoLayers for callers that know no connector
// types (the worker's status): fn gets each layer's facts.
func (r *Room) ReportVideoLayers(fn func(peerID, trackID, quality string, top bool, width, height int, since time.Time, changes int)) {
	for _, l := range r.VideoLayers() {
		fn(l.PeerID, l.TrackID, l.Quality, l.Top, l.Width, l.Height, l.Since, l.Changes)
	}
}

// logLayers logs each video track whose received size changed since the
// last call; the loop calls it once a second and when tracks change.
func (r *Room) logLayers() {
	for _, t := range r.allTracks() {
		l, ok := t.layer()
		if !ok || t.layers.logged == t.layers.size.Load() {
			continue
		}
		t.layers.logged = uint32(l.Width)<<16 | uint32(l.Height)
		r.log.Info("video layer", "peer", l.PeerID, "track", l.TrackID, "quality", l.Quality, "top", l.Top,
			"width", l.Width, "height", l.Height, "changes", l.Changes,
			"after", l.Since.Sub(t.added).Round(time.Millisecond))
	}
}
