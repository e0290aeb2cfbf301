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
	"github.com/roomcast/roomcast/room"
)

// mediaFile demuxes one media file for the Publisher: its first video stream
// and its first audio stream, as compressed packets ready to send.
type mediaFile struct {
	path  string
	fc    *astiav.FormatContext
	pkt   *astiav.Packet
	start time.Duration // the file's start time; packet times are relative to it

	video, audio *fileStream
}

// fileStream is one stream the Publisher sends.
type fileStream struct {
	index    int
	kind     room.Kind
	codec    webrtc.RTPCodecCapability
	tb       astiav.Rational
	width    int
	height   int
	frameDur time.Duration // when a packet does not say

	// annexB turns H.264 from MP4/Matroska (length-prefixed NAL units) into
	// the start-code form the RTP packetizer expects.
	annexB *astiav.BitStreamFilterContext
	out    *astiav.Packet

	// dec decodes audio only to measure its level: LiveKit finds active
	// speakers from the RTP audio-level header extension, which the sender
	// must fill in.
	dec   *astiav.CodecContext
	frame *astiav.Frame
}

func openMedia(path string) (_ *mediaFile, err error) {
	m := &mediaFile{path: path, fc: astiav.AllocFormatContext()}
	if m.fc == nil {
		return nil, errors.New("livekit: cannot allocate a demuxer")
	}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if err := m.fc.OpenInput(path, nil, nil); err != nil {
		m.fc.Free()
		m.fc = nil
		return nil, fmt.Errorf("livekit: opening %s: %w", path, err)
	}
	if err := m.fc.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("livekit: probing %s: %w", path, err)
	}
	if st := m.fc.StartTime(); st != astiav.NoPtsValue {
		m.start = time.Duration(st) * time.Microsecond // AV_TIME_BASE units
	}
	for _, s := range m.fc.Streams() {
		cp := s.CodecParameters()
		switch {
		case cp.MediaType() == astiav.MediaTypeVideo && m.video == nil:
			if m.video, err = newVideoStream(path, s); err != nil {
				return nil, err
			}
		case cp.MediaType() == astiav.MediaTypeAudio && m.audio == nil:
			if m.audio, err = newAudioStream(path, s); err != nil {
				return nil, err
			}
		}
	}
	if m.video == nil && m.audio == nil {
		return nil, fmt.Errorf("livekit: %s has neither video nor audio", path)
	}
	m.pkt = astiav.AllocPacket()
	return m, nil
}

func newVideoStream(path string, s *astiav.Stream) (*fileStream, error) {
	cp := s.CodecParameters()
	fs := &fileStream{index: s.Index(), kind: room.KindVideo, tb: s.TimeBase(), width: cp.Width(), height: cp.Height()}
	switch cp.CodecID() {
	case astiav.CodecIDVp8:
		fs.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	case astiav.CodecIDVp9:
		fs.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	case astiav.CodecIDH264:
		fs.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		if ed := cp.ExtraData(); len(ed) > 0 && ed[0] == 1 { // avcC: length-prefixed
			if err := fs.openAnnexB(s); err != nil {
				return nil, fmt.Errorf("livekit: %s: %w", path, err)
			}
		}
	default:
		return nil, fmt.Errorf("livekit: %s: video codec %s is not supported (VP8, VP9, H.264)", path, cp.CodecID())
	}
	fs.frameDur = time.Second / 30
	if fr := s.AvgFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		fs.frameDur = time.Duration(float64(time.Second) * float64(fr.Den()) / float64(fr.Num()))
	}
	return fs, nil
}

func (fs *fileStream) openAnnexB(s *astiav.Stream) error {
	f := astiav.FindBitStreamFilterByName("h264_mp4toannexb")
	if f == nil {
		return errors.New("FFmpeg lacks the h264_mp4toannexb filter")
	}
	bsf, err := astiav.AllocBitStreamFilterContext(f)
	if err != nil {
		return fmt.Errorf("allocating h264_mp4toannexb: %w", err)
	}
	if err := s.CodecParameters().Copy(bsf.InputCodecParameters()); err != nil {
		bsf.Free()
		return fmt.Errorf("configuring h264_mp4toannexb: %w", err)
	}
	bsf.SetInputTimeBase(s.TimeBase())
	if err := bsf.Initialize(); err != nil {
		bsf.Free()
		return fmt.Errorf("initializing h264_mp4toannexb: %w", err)
	}
	fs.annexB = bsf
	fs.out = astiav.AllocPacket()
	return nil
}

func newAudioStream(path string, s *astiav.Stream) (*fileStream, error) {
	cp := s.CodecParameters()
	if cp.CodecID() != astiav.CodecIDOpus {
		return nil, fmt.Errorf("livekit: %s: audio codec %s is not supported (Opus)", path, cp.CodecID())
	}
	fs := &fileStream{
		index:    s.Index(),
		kind:     room.KindAudio,
		tb:       s.TimeBase(),
		codec:    webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		frameDur: 20 * time.Millisecond,
	}
	// The level meter is best effort: without a decoder the audio still
	// goes out, only without levels.
	if c := astiav.FindDecoder(astiav.CodecIDOpus); c != nil {
		dec := astiav.AllocCodecContext(c)
		if dec != nil && cp.ToCodecContext(dec) == nil && dec.Open(c, nil) == nil {
			fs.dec, fs.frame = dec, astiav.AllocFrame()
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
	if fs.annexB != nil {
		fs.annexB.Free()
	}
	if fs.out != nil {
		fs.out.Free()
	}
	if fs.dec != nil {
		fs.dec.Free()
	}
	if fs.frame != nil {
		fs.frame.Free()
	}
}

func (m *mediaFile) close() {
	m.video.close()
	m.audio.close()
	if m.pkt != nil {
		m.pkt.Free()
	}
	if m.fc != nil {
		m.fc.CloseInput()
		m.fc.Free()
	}
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

// next returns the next packet of a stream we send, or io.EOF. An H.264
// packet may come out of the filter as nothing (it buffers) and is skipped.
func (m *mediaFile) next() (sample, error) {
	for {
		m.pkt.Unref()
		if err := m.fc.ReadFrame(m.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return sample{}, io.EOF
			}
			return sample{}, fmt.Errorf("livekit: reading %s: %w", m.path, err)
		}
		var fs *fileStream
		switch m.pkt.StreamIndex() {
		case m.video.idx():
			fs = m.video
		case m.audio.idx():
			fs = m.audio
		default:
			continue
		}
		s := sample{stream: fs, keyframe: m.pkt.Flags().Has(astiav.PacketFlagKey)}
		ts := m.pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = m.pkt.Dts()
		}
		if ts != astiav.NoPtsValue {
			s.at = max(fs.toDuration(ts)-m.start, 0)
		}
		s.duration = fs.frameDur
		if d := m.pkt.Duration(); d > 0 {
			s.duration = fs.toDuration(d)
		}
		if fs.annexB != nil {
			data, err := fs.filter(m.pkt)
			if err != nil {
				return sample{}, fmt.Errorf("livekit: %s: %w", m.path, err)
			}
			if data == nil {
				continue
			}
			s.data = data
		} else {
			// The packet is reused for the next read: copy.
			s.data = append([]byte(nil), m.pkt.Data()...)
		}
		if fs.dec != nil {
			// Without timestamps the decoder does not try (and warn that
			// it cannot) to adjust them for Opus pre-skip; we only want
			// the samples.
			m.pkt.SetPts(astiav.NoPtsValue)
			m.pkt.SetDts(astiav.NoPtsValue)
			s.level = fs.measure(m.pkt)
		}
		return s, nil
	}
}

func (fs *fileStream) idx() int {
	if fs == nil {
		return -1
	}
	return fs.index
}

func (fs *fileStream) toDuration(ts int64) time.Duration {
	return time.Duration(float64(ts) * float64(time.Second) * float64(fs.tb.Num()) / float64(fs.tb.Den()))
}

func (fs *fileStream) filter(p *astiav.Packet) ([]byte, error) {
	if err := fs.annexB.SendPacket(p); err != nil {
		return nil, fmt.Errorf("h264_mp4toannexb: %w", err)
	}
	var data []byte
	for {
		fs.out.Unref()
		if err := fs.annexB.ReceivePacket(fs.out); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return data, nil
			}
			return nil, fmt.Errorf("h264_mp4toannexb: %w", err)
		}
		data = append(data, fs.out.Data()...)
	}
}

// measure decodes an audio packet and returns its level as RFC 6464 wants
// it: 0 is the loudest (0 dBov), 127 silence.
func (fs *fileStream) measure(p *astiav.Packet) *uint8 {
	if err := fs.dec.SendPacket(p); err != nil {
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
	ts := int64(0)
	if st := m.fc.StartTime(); st != astiav.NoPtsValue {
		ts = st
	}
	if err := m.fc.SeekFrame(-1, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return fmt.Errorf("livekit: rewinding %s: %w", m.path, err)
	}
	return nil
}
