package livekit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// rtcpQueue is how many RTCP packets a track keeps for a slow reader. Sender
// reports come about once a second, so older ones are worth little: when the
// queue is full the oldest is dropped, never the SDK's reader blocked.
const rtcpQueue = 64

// maxReadErrors bounds how many reads in a row may fail without yielding a
// packet before Read gives up on the track: each such failure normally
// consumes one bad packet, but an error that persists would otherwise spin.
const maxReadErrors = 1000

// rtpReader is what Read needs of the SDK's receiver, a *webrtc.TrackRemote.
type rtpReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
	SetReadDeadline(t time.Time) error
}

// track is one subscribed remote track.
type track struct {
	info   room.TrackInfo
	remote *webrtc.TrackRemote
	rtp    rtpReader // remote, as Read sees it
	pub    *lksdk.RemoteTrackPublication
	rp     *lksdk.RemoteParticipant

	rtcp chan rtcp.Packet

	added  time.Time
	layers *layerWatch // VP8 video only

	endOnce sync.Once
	done    chan struct{}
}

var _ room.Track = (*track)(nil)

func newTrack(remote *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) *track {
	c := remote.Codec()
	t := &track{
		info: room.TrackInfo{
			ID:     pub.SID(),
			PeerID: rp.Identity(),
			Kind:   kindOf(remote.Kind()),
			Source: sourceOf(pub.Source()),
			Codec: room.Codec{
				MimeType:    canonicalMime(c.MimeType),
				ClockRate:   c.ClockRate,
				Channels:    c.Channels,
				PayloadType: uint8(c.PayloadType),
				SDPFmtpLine: c.SDPFmtpLine,
			},
			Muted: pub.IsMuted(),
		},
		remote: remote,
		rtp:    remote,
		pub:    pub,
		rp:     rp,
		rtcp:   make(chan rtcp.Packet, rtcpQueue),
		done:   make(chan struct{}),
		added:  time.Now(),
	}
	if t.info.Kind == room.KindVideo && t.info.Codec.MimeType == "video/VP8" {
		t.layers = &layerWatch{}
	}
	// The SDK already runs the receiver's RTCP reader (the interceptors need
	// it drained) and hands each packet to this callback; reading the
	// receiver ourselves would steal packets from it.
	pub.OnRTCP(t.onRTCP)
	return t
}

func (t *track) Info() room.TrackInfo { return t.info }

// Read implements room.Track: the SDK's receiver fills b directly. It is
// the per-packet path, so it allocates nothing.
//
// Whether a packet parses is the reader's business: a packet the receiver
// returns with an error of its own (an unknown payload type, say) is
// returned as it is, and the reader's depacketizer skips it if it must. A
// read that fails without a packet (an interceptor refused a malformed
// one) is skipped, up to maxReadErrors in a row.
func (t *track) Read(b []byte) (int, error) {
	for errs := 0; ; errs++ {
		if t.ended() {
			return 0, io.EOF
		}
		n, _, err := t.rtp.Read(b)
		switch {
		case err == nil:
			if t.layers != nil {
				t.layers.see(rtpPayload(b[:n]))
			}
			return n, nil
		case t.ended() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || isTimeout(err):
			t.end()
			return 0, io.EOF
		case errors.Is(err, io.ErrShortBuffer):
			return 0, io.ErrShortBuffer
		case n > 0:
			return n, nil
		case errs+1 >= maxReadErrors:
			t.end()
			return 0, fmt.Errorf("livekit: track %s: %d reads in a row failed, last: %w", t.info.ID, errs+1, err)
		}
	}
}

// rtpPayload is the payload of a raw RTP packet, or nil if it is too short
// for its header.
func rtpPayload(b []byte) []byte {
	if len(b) < 12 {
		return nil
	}
	i := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if len(b) < i+4 {
			return nil
		}
		i += 4 + 4*int(binary.BigEndian.Uint16(b[i+2:i+4]))
	}
	if len(b) < i {
		return nil
	}
	return b[i:]
}

// isTimeout reports whether err is a deadline's timeout. It walks the chain
// by hand: errors.As would allocate its target on every bad packet.
func isTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if te, ok := err.(interface{ Timeout() bool }); ok && te.Timeout() {
			return true
		}
	}
	return false
}

// ReadRTCP implements room.Track. It returns what the SFU sent for this
// track: sender reports (whose NTP times LiveKit carries over from the
// publisher's own reports), SDES and BYE.
func (t *track) ReadRTCP() ([]rtcp.Packet, error) { return room.DrainRTCP(t.rtcp, t.done) }

func (t *track) onRTCP(p rtcp.Packet) {
	if t.ended() {
		return
	}
	for {
		select {
		case t.rtcp <- p:
			return
		default:
		}
		select {
		case <-t.rtcp: // drop the oldest
		default:
		}
	}
}

// RequestKeyframe implements room.Track: it sends a PLI for the track's SSRC
// on the subscriber connection; the SFU forwards it to the publisher.
func (t *track) RequestKeyframe() error {
	if t.ended() {
		return io.EOF
	}
	if t.info.Kind != room.KindVideo {
		return nil
	}
	t.rp.WritePLI(t.remote.SSRC())
	return nil
}

func (t *track) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// end makes Read and ReadRTCP return io.EOF. A reader blocked inside the
// SDK's Read is woken by a read deadline in the past.
func (t *track) end() {
	t.endOnce.Do(func() {
		close(t.done)
		// The RTCP hook stays: onRTCP drops packets once ended, and a new
		// subscription to the same publication may already have set its own.
		_ = t.rtp.SetReadDeadline(time.Now())
	})
}

func kindOf(k webrtc.RTPCodecType) room.Kind {
	if k == webrtc.RTPCodecTypeVideo {
		return room.KindVideo
	}
	return room.KindAudio
}

func sourceOf(s lkproto.TrackSource) room.Source {
	switch s {
	case lkproto.TrackSource_SCREEN_SHARE, lkproto.TrackSource_SCREEN_SHARE_AUDIO:
		return room.SourceScreen
	default:
		// CAMERA, MICROPHONE, and UNKNOWN (clients that do not say).
		return room.SourceRegular
	}
}

// canonicalMime spells a MIME type as the room contract does.
func canonicalMime(m string) string {
	switch strings.ToLower(m) {
	case "video/vp8":
		return "video/VP8"
	case "video/vp9":
		return "video/VP9"
	case "video/h264":
		return "video/H264"
	case "video/h265":
		return "video/H265"
	case "video/av1":
		return "video/AV1"
	case "audio/opus":
		return "audio/opus"
	case "audio/red":
		return "audio/red"
	default:
		return m
	}
}
