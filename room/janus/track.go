package janus

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

const (
	rtcpQueue     = 64
	maxReadErrors = 1000
)

// track is one stream of the subscription, as a room.Track.
type track struct {
	info     room.TrackInfo
	mid      string // the subscription's m-line
	feed     id
	feedMid  string
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
	pc       *webrtc.PeerConnection
	levelID  uint8 // the audio-level extension's id; 0 when not negotiated
	// The loop owns these: inactive is Janus marking the stream so, silent
	// a video stream that stopped sending; muted is what was announced.
	inactive, silent, muted bool
	lastPacket              atomic.Int64 // unix nanoseconds
	// substream is the simulcast layer asked for with configure (-1: none
	// yet); owned by the loop.
	substream int

	// The audio levels seen since the loop last looked: the sum of
	// (127 - level) and the count, for the speaker meter.
	levelSum, levelN atomic.Uint64

	rtcp    chan rtcp.Packet
	endOnce sync.Once
	done    chan struct{}
}

var _ room.Track = (*track)(nil)

func newTrack(st subStream, remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver, pc *webrtc.PeerConnection) *track {
	c := remote.Codec()
	kind := room.KindAudio
	if remote.Kind() == webrtc.RTPCodecTypeVideo {
		kind = room.KindVideo
	}
	t := &track{
		info: room.TrackInfo{
			ID:     trackID(st.FeedID, st.FeedMid),
			PeerID: string(st.FeedID),
			Kind:   kind,
			Source: sourceOf(st.FeedDescription),
			Codec: room.Codec{
				MimeType:    canonicalMime(c.MimeType),
				ClockRate:   c.ClockRate,
				Channels:    c.Channels,
				PayloadType: uint8(c.PayloadType),
				SDPFmtpLine: c.SDPFmtpLine,
			},
		},
		mid:       st.Mid,
		feed:      st.FeedID,
		feedMid:   st.FeedMid,
		remote:    remote,
		receiver:  receiver,
		pc:        pc,
		substream: -1,
		rtcp:      make(chan rtcp.Packet, rtcpQueue),
		done:      make(chan struct{}),
	}
	if kind == room.KindAudio {
		for _, e := range receiver.GetParameters().HeaderExtensions {
			if e.URI == audioLevelURI && e.ID > 0 && e.ID < 15 {
				t.levelID = uint8(e.ID)
			}
		}
	}
	t.lastPacket.Store(time.Now().UnixNano())
	go t.readRTCP()
	return t
}

// trackID names a track by its publisher and the publisher's own mid, which
// stay the same across renegotiations of the subscription.
func trackID(feed id, feedMid string) string { return string(feed) + "/" + feedMid }

// sourceOf is the screen-share convention: VideoRoom has no track source,
// so a publisher marks a screen share by its stream's description (the
// "descriptions" of publish/configure), "screen" or starting with
// "screen" ("screen", "screenshare", "Screen share"), case aside.
func sourceOf(description string) room.Source {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(description)), "screen") {
		return room.SourceScreen
	}
	return room.SourceRegular
}

func (t *track) Info() room.TrackInfo { return t.info }

// Read implements room.Track: pion's receiver fills b. It allocates
// nothing; for audio it also notes the RFC 6464 level for the speaker
// meter, since VideoRoom tells subscribers nothing about who talks.
func (t *track) Read(b []byte) (int, error) {
	for errs := 0; ; errs++ {
		if t.ended() {
			return 0, io.EOF
		}
		n, _, err := t.remote.Read(b)
		switch {
		case err == nil:
			t.lastPacket.Store(time.Now().UnixNano())
			if t.levelID != 0 {
				if l, ok := audioLevel(b[:n], t.levelID); ok {
					t.levelSum.Add(uint64(127 - l))
					t.levelN.Add(1)
				}
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
			return 0, fmt.Errorf("janus: track %s: %d reads in a row failed, last: %w", t.info.ID, errs+1, err)
		}
	}
}

func isTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if te, ok := err.(interface{ Timeout() bool }); ok && te.Timeout() {
			return true
		}
	}
	return false
}

// readRTCP drains the receiver's RTCP (the interceptors need it read) and
// keeps what the track's reader wants, dropping the oldest when it lags.
func (t *track) readRTCP() {
	for {
		ps, _, err := t.receiver.ReadRTCP()
		if err != nil || t.ended() {
			return
		}
		for _, p := range ps {
			for {
				select {
				case t.rtcp <- p:
				default:
					select {
					case <-t.rtcp:
					default:
					}
					continue
				}
				break
			}
		}
	}
}

// ReadRTCP implements room.Track: Janus's sender reports for the stream,
// whose NTP times it carries over from the publisher's.
func (t *track) ReadRTCP() ([]rtcp.Packet, error) { return room.DrainRTCP(t.rtcp, t.done) }

// RequestKeyframe implements room.Track: a PLI, which Janus forwards to the
// publisher.
func (t *track) RequestKeyframe() error {
	if t.ended() {
		return io.EOF
	}
	if t.info.Kind != room.KindVideo {
		return nil
	}
	return t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.remote.SSRC())}})
}

// level returns the mean level (0..127, 127 the loudest) since the last
// call, and whether any packet carried one.
func (t *track) level() (int, bool) {
	n := t.levelN.Swap(0)
	s := t.levelSum.Swap(0)
	if n == 0 {
		return 0, false
	}
	return int(s / n), true
}

func (t *track) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func (t *track) end() {
	t.endOnce.Do(func() {
		close(t.done)
		_ = t.remote.SetReadDeadline(time.Now())
	})
}
