package livekit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/avpacket"
	"github.com/roomcast/roomcast/internal/mediafile"
	"github.com/roomcast/roomcast/room"
)

// mediaFile is one media file the Publisher sends: its first video stream
// and its first audio stream, read by mediafile as access units the SDK's
// payloaders take.
type mediaFile struct {
	path   string
	r      *mediafile.Reader
	sample mediafile.Sample
	start  time.Duration // the file's start time; sample times are relative to it

	video, audio *fileStream
}

// fileStream is one stream the Publisher sends.
type fileStream struct {
	s        *mediafile.Stream
	kind     room.Kind
	codec    webrtc.RTPCodecCapability
	width    int
	height   int
	frameDur time.Duration // when a sample does not say

	// dec decodes audio only to measure its level: LiveKit finds active
	// speakers from the RTP audio-level header extension, which the sender
	// must fill in.
	dec     *astiav.CodecContext
	frame   *astiav.Frame
	pkt     *astiav.Packet
	scratch []byte // avpacket.SetData's padded copy, reused
}

// The fmtp lines the SDK's media engine registers for H.264 and VP9. pion
// matches a track's fmtp against them (H.264 on profile-level-id's first
// two bytes, VP9 on profile-id), so a track must use these, whatever its
// SPS or VP9 profile says, or it cannot be published.
const (
	sdkH264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	sdkVP9Fmtp  = "profile-id=0"
)

func openMedia(path string) (_ *mediaFile, err error) {
	r, err := mediafile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	m := &mediaFile{path: path, r: r, start: r.Info().StartTime}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	info := r.Info()
	var sel []*mediafile.Stream
	if s := info.First(room.KindVideo); s != nil {
		if m.video, err = newVideoStream(path, s); err != nil {
			return nil, err
		}
		sel = append(sel, s)
	}
	if s := info.First(room.KindAudio); s != nil {
		if m.audio, err = newAudioStream(path, s, r.CodecParameters(s)); err != nil {
			return nil, err
		}
		sel = append(sel, s)
	}
	if m.video == nil && m.audio == nil {
		return nil, fmt.Errorf("livekit: %s has neither video nor audio", path)
	}
	if err := r.Select(sel...); err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	return m, nil
}

func newVideoStream(path string, s *mediafile.Stream) (*fileStream, error) {
	fs := &fileStream{s: s, kind: room.KindVideo, width: s.Width, height: s.Height}
	fs.codec = webrtc.RTPCodecCapability{MimeType: s.Codec.MimeType, ClockRate: s.Codec.ClockRate}
	switch s.Codec.MimeType {
	case webrtc.MimeTypeVP8:
	case webrtc.MimeTypeVP9:
		fs.codec.SDPFmtpLine = sdkVP9Fmtp
	case webrtc.MimeTypeH264:
		fs.codec.SDPFmtpLine = sdkH264Fmtp
	default:
		// AV1 too: the SDK's LocalTrack has no AV1 payloader.
		return nil, fmt.Errorf("livekit: %s: video codec %s is not supported (VP8, VP9, H.264)", path, s.CodecName)
	}
	fs.frameDur = time.Second / 30
	if s.FrameRateNum > 0 && s.FrameRateDen > 0 {
		fs.frameDur = time.Duration(float64(time.Second) * float64(s.FrameRateDen) / float64(s.FrameRateNum))
	}
	return fs, nil
}

func newAudioStream(path string, s *mediafile.Stream, cp *astiav.CodecParameters) (*fileStream, error) {
	if s.Codec.MimeType != webrtc.MimeTypeOpus {
		return nil, fmt.Errorf("livekit: %s: audio codec %s is not supported (Opus)", path, s.CodecName)
	}
	fs := &fileStream{
		s:        s,
		kind:     room.KindAudio,
		codec:    webrtc.RTPCodecCapability{MimeType: s.Codec.MimeType, ClockRate: s.Codec.ClockRate, Channels: s.Codec.Channels, SDPFmtpLine: s.Codec.SDPFmtpLine},
		frameDur: 20 * time.Millisecond,
	}
	// The level meter is best effort: without a decoder the audio still
	// goes out, only without levels.
	if c := astiav.FindDecoder(astiav.CodecIDOpus); c != nil {
		dec := astiav.AllocCodecContext(c)
		if dec != nil && cp.ToCodecContext(dec) == nil && dec.Open(c, nil) == nil {
			fs.dec, fs.frame, fs.pkt = dec, astiav.AllocFrame(), astiav.AllocPacket()
		} else if dec != nil {
			dec.Free()
		}
	}
	return fs, nil
}

func (fs *fileStream) close() {
	if fs == nil {
		return
	}
	if fs.dec != nil {
		fs.dec.Free()
	}
	if fs.frame != nil {
		fs.frame.Free()
	}
	if fs.pkt != nil {
		fs.pkt.Free()
	}
}

func (m *mediaFile) close() {
	m.video.close()
	m.audio.close()
	m.r.Close()
}

// sample is one compressed frame, timed relative to the file's start.
type sample struct {
	stream   *fileStream
	data     []byte
	at       time.Duration
	duration time.Duration
	keyframe bool
	level    *uint8 // audio level in -dBov, when measured
}

// next returns the next sample of a stream we send, or io.EOF.
func (m *mediaFile) next() (sample, error) {
	if err := m.r.Read(&m.sample); err != nil {
		if errors.Is(err, io.EOF) {
			return sample{}, io.EOF
		}
		return sample{}, fmt.Errorf("livekit: %w", err)
	}
	ms := &m.sample
	fs := m.video
	if ms.Stream.Kind == room.KindAudio {
		fs = m.audio
	}
	s := sample{stream: fs, data: ms.Data, keyframe: ms.Key}
	ts := ms.PTS
	if ts == mediafile.NoTimestamp {
		ts = ms.DTS
	}
	if ts != mediafile.NoTimestamp {
		s.at = max(fs.s.Duration(ts)-m.start, 0)
	}
	s.duration = fs.frameDur
	if ms.Duration > 0 {
		s.duration = fs.s.Duration(ms.Duration)
	}
	if fs.dec != nil {
		s.level = fs.measure(ms.Data)
	}
	return s, nil
}

// measure decodes an audio packet and returns its level as RFC 6464 wants
// it: 0 is the loudest (0 dBov), 127 silence.
func (fs *fileStream) measure(data []byte) *uint8 {
	// The packet carries no timestamps, so the decoder does not try (and
	// warn that it cannot) to adjust them for Opus pre-skip; we only want
	// the samples.
	fs.pkt.Unref()
	var err error
	if fs.scratch, err = avpacket.SetData(fs.pkt, data, fs.scratch); err != nil {
		return nil
	}
	if err := fs.dec.SendPacket(fs.pkt); err != nil {
		return nil
	}
	var sum float64
	var n int
	for {
		fs.frame.Unref()
		if err := fs.dec.ReceiveFrame(fs.frame); err != nil {
			break
		}
		ns := fs.frame.NbSamples()
		switch fs.frame.SampleFormat() {
		case astiav.SampleFormatFltp, astiav.SampleFormatFlt:
			// Channel 0 (or the interleaved first ns values) is enough
			// for a speaker meter.
			b := avframe.Plane(fs.frame, 0, ns*4)
			for i := 0; i < ns; i++ {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
				sum += v * v
			}
			n += ns
		case astiav.SampleFormatS16, astiav.SampleFormatS16P:
			b := avframe.Plane(fs.frame, 0, ns*2)
			for i := 0; i < ns; i++ {
				v := float64(int16(binary.LittleEndian.Uint16(b[2*i:]))) / 32768
				sum += v * v
			}
			n += ns
		}
	}
	if n == 0 {
		return nil
	}
	level := uint8(127)
	if rms := math.Sqrt(sum / float64(n)); rms > 0 {
		level = uint8(min(max(-20*math.Log10(rms), 0), 127))
	}
	return &level
}

// rewind goes back to the start of the file, for looping.
func (m *mediaFile) rewind() error {
	if err := m.r.Rewind(); err != nil {
		return fmt.Errorf("livekit: %w", err)
	}
	return nil
}
