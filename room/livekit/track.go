package livekit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// rtcpQueue is how many RTCP packets a track keeps for a slow reader. Sender
// reports come about once a second, so older ones are worth little: when the
// queue is full the oldest is dropped, never the SDK's reader blocked.
const rtcpQueue = 64

// maxReadErrors bounds how many unreadable packets in a row Read skips
// before it gives up on the track, so a broken stream cannot spin forever.
const maxReadErrors = 1000

// track is one subscribed remote track.
type track struct {
	info   room.TrackInfo
	remote *webrtc.TrackRemote
	pub    *lksdk.RemoteTrackPublication
	rp     *lksdk.RemoteParticipant
	log    *slog.Logger

	rtcp chan rtcp.Packet

	endOnce sync.Once
	done    chan struct{}
}

var _ room.Track = (*track)(nil)

func newTrack(remote *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant, log *slog.Logger) *track {
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
		pub:    pub,
		rp:     rp,
		rtcp:   make(chan rtcp.Packet, rtcpQueue),
		done:   make(chan struct{}),
	}
	t.log = log.With("peer", t.info.PeerID, "track", t.info.ID, "kind", t.info.Kind)
	// The SDK already runs the receiver's RTCP reader (the interceptors need
	// it drained) and hands each packet to this callback; reading the
	// receiver ourselves would steal packets from it.
	pub.OnRTCP(t.onRTCP)
	return t
}

func (t *track) Info() room.TrackInfo { return t.info }

// Read implements room.Track: the SDK's receiver fills b directly.
func (t *track) Read(b []byte) (int, error) {
	for errs := 0; ; errs++ {
		select {
		case <-t.done:
			return 0, io.EOF
		default:
		}
		n, _, err := t.remote.Read(b)
		if err == nil {
			return n, nil
		}
		if t.ended() || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || isTimeout(err) {
			t.end()
			return 0, io.EOF
		}
		// A packet that does not parse, or carries an unknown payload type:
		// skip it, as a receiver would.
		if errs >= maxReadErrors {
			t.end()
			return 0, fmt.Errorf("livekit: track %s: %d unreadable packets in a row, last: %w", t.info.ID, errs, err)
		}
		if errs == 0 {
			t.log.Debug("skipping unreadable RTP packet", "error", err)
		}
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// ReadRTCP implements room.Track. It returns what the SFU sent for this
// track: sender reports (whose NTP times LiveKit carries over from the
// publisher's own reports), SDES and BYE.
func (t *track) ReadRTCP() ([]rtcp.Packet, error) {
	select {
	case p := <-t.rtcp:
		out := []rtcp.Packet{p}
		for {
			select {
			case p := <-t.rtcp:
				out = append(out, p)
			default:
				return out, nil
			}
		}
	case <-t.done:
		return nil, io.EOF
	}
}

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
		_ = t.remote.SetReadDeadline(time.Now())
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
