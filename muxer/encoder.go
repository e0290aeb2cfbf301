package muxer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// Defaults of EncoderConfig.
const (
	DefaultAudioBitrate = 128000
	DefaultSampleRate   = 48000
	DefaultPreset       = "veryfast"
)

// gopSeconds is the keyframe interval. RTMP services want a keyframe at least
// every 2 to 4 s, and HLS cuts segments at keyframes, so a fixed 2 s GOP lets
// every output cut at the same places.
const gopSeconds = 2

// audioChannels is fixed: the mixer produces stereo.
const audioChannels = 2

// EncoderConfig configures the encoder.
type EncoderConfig struct {
	Width, Height, FPS int
	VideoBitrate       int    // bps
	AudioBitrate       int    // bps; 0 means DefaultAudioBitrate
	SampleRate         int    // Hz, stereo; 0 means DefaultSampleRate
	Preset             string // x264 preset; "" means DefaultPreset
	Threads            int    // x264 threads; 0 = auto
	Logger             *slog.Logger
}

// PacketWriter receives encoded packets. *Fanout implements it. WritePacket
// must not block: it is called from the encoding goroutines.
type PacketWriter interface {
	WritePacket(p *output.Packet)
}

// PacketWriterFunc adapts a function to PacketWriter. It breaks the knot
// between NewEncoder, which wants a writer, and NewFanout, which wants the
// encoder's Info:
//
//	var fan *Fanout
//	enc, err := NewEncoder(cfg, PacketWriterFunc(func(p *Packet) { fan.WritePacket(p) }))
//	...
//	fan = NewFanout(enc.Info(), log) // before the first WriteVideo
type PacketWriterFunc func(p *output.Packet)

// WritePacket implements PacketWriter.
func (f PacketWriterFunc) WritePacket(p *output.Packet) { f(p) }

// EncoderStats counts what the encoder consumed and produced.
type EncoderStats struct {
	VideoFrames  int64 // frames given to WriteVideo
	VideoPackets int64
	KeyFrames    int64
	VideoBytes   int64
	AudioSamples int64 // samples per channel given to WriteAudio (plus padding)
	AudioPackets int64
	AudioBytes   int64
	// VideoEncodeTime is the time spent inside libx264, a measure of how
	// much of the frame budget encoding takes.
	VideoEncodeTime time.Duration
}

// Encoder encodes the composite video (libx264) and the mixed audio (AAC-LC)
// once, and hands every packet to a PacketWriter, synchronously from
// WriteVideo, WriteAudio and Close. Video and audio have separate locks, so
// the compositor and the mixer can write from their own goroutines without
// waiting for each other.
type Encoder struct {
	cfg  EncoderConfig
	log  *slog.Logger
	out  PacketWriter
	info output.StreamInfo

	vmu     sync.Mutex
	vcc     *astiav.CodecContext
	vframe  *astiav.Frame // a reference to the caller's frame while encoding it
	vpkt    *astiav.Packet
	lastPTS int64
	vclosed bool

	amu       sync.Mutex
	acc       *astiav.CodecContext
	aframe    *astiav.Frame // reused: filled in Go, sent, filled again
	apkt      *astiav.Packet
	aplanes   [audioChannels][]byte
	frameSize int   // samples per AAC frame (1024)
	filled    int   // samples in aframe so far
	frameAt   int64 // PTS of aframe's first sample
	next      int64 // PTS the next WriteAudio is expected to start at
	started   bool  // any audio written
	firstIn   int64 // PTS of the first frame sent to the AAC encoder
	sentAny   bool  // firstIn is set
	aclosed   bool

	stats struct {
		videoFrames, videoPackets, keyFrames, videoBytes atomic.Int64
		audioSamples, audioPackets, audioBytes           atomic.Int64
		videoEncodeNanos                                 atomic.Int64
	}
}

// aacSampleRates are the rates AAC's AudioSpecificConfig can signal by index.
var aacSampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

func (c *EncoderConfig) validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("%s %v: %s", field, v, why))
	}
	if c.Width <= 0 || c.Width%2 != 0 {
		bad("Width", c.Width, "must be positive and even (yuv420p)")
	}
	if c.Height <= 0 || c.Height%2 != 0 {
		bad("Height", c.Height, "must be positive and even (yuv420p)")
	}
	if c.FPS <= 0 || c.FPS > 120 {
		bad("FPS", c.FPS, "must be in 1..120")
	}
	if c.VideoBitrate <= 0 {
		bad("VideoBitrate", c.VideoBitrate, "must be positive")
	}
	if c.AudioBitrate < 0 {
		bad("AudioBitrate", c.AudioBitrate, "must not be negative")
	}
	if c.SampleRate != 0 {
		ok := false
		for _, r := range aacSampleRates {
			ok = ok || r == c.SampleRate
		}
		if !ok {
			bad("SampleRate", c.SampleRate, "is not an AAC sampling frequency")
		}
	}
	if c.Threads < 0 {
		bad("Threads", c.Threads, "must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("muxer: invalid encoder config: %w", errors.Join(errs...))
	}
	return nil
}

// NewEncoder opens both encoders. Info is valid as soon as it returns.
func NewEncoder(cfg EncoderConfig, out PacketWriter) (*Encoder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("muxer: invalid encoder config: PacketWriter is nil")
	}
	if cfg.AudioBitrate == 0 {
		cfg.AudioBitrate = DefaultAudioBitrate
	}
	if cfg.SampleRate == 0 {
		cfg.SampleRate = DefaultSampleRate
	}
	if cfg.Preset == "" {
		cfg.Preset = DefaultPreset
	}
	e := &Encoder{cfg: cfg, log: loggerOrDiscard(cfg.Logger), out: out, lastPTS: math.MinInt64}
	if err := e.openVideo(); err != nil {
		e.free()
		return nil, err
	}
	if err := e.openAudio(); err != nil {
		e.free()
		return nil, err
	}
	e.log.Info("encoder opened",
		"width", cfg.Width, "height", cfg.Height, "fps", cfg.FPS,
		"video_bitrate", cfg.VideoBitrate, "audio_bitrate", cfg.AudioBitrate,
		"sample_rate", cfg.SampleRate, "preset", cfg.Preset)
	return e, nil
}

func (e *Encoder) openVideo() error {
	c := e.cfg
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return errors.New("muxer: libx264 encoder not found in this FFmpeg build")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return errors.New("muxer: allocating libx264 context failed")
	}
	e.vcc = cc
	cc.SetWidth(c.Width)
	cc.SetHeight(c.Height)
	cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	cc.SetTimeBase(astiav.NewRational(1, c.FPS))
	cc.SetFramerate(astiav.NewRational(c.FPS, 1))
	cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	cc.SetBitRate(int64(c.VideoBitrate))
	cc.SetGopSize(gopSeconds * c.FPS)
	cc.SetThreadCount(c.Threads)
	// GLOBAL_HEADER puts SPS/PPS in extradata so that Info can describe the
	// stream before the first frame (the MP4 avcC, the FLV sequence header).
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))

	opts := astiav.NewDictionary()
	defer opts.Free()
	gop := strconv.Itoa(gopSeconds * c.FPS)
	for _, kv := range [][2]string{
		{"preset", c.Preset},
		// zerolatency: no B-frames (DTS == PTS), no lookahead, no frame
		// threading delay, so a frame's packet comes out of the call that
		// encoded it.
		{"tune", "zerolatency"},
		{"bf", "0"},
		// keyint_min = keyint plus scenecut off makes every IDR land
		// exactly on the 2 s grid (x264 clamps keyint_min to keyint/2+1,
		// which is harmless without scenecut).
		{"keyint_min", gop},
		// VBV: RTMP ingests (YouTube, Twitch, ...) expect a near-constant
		// rate and reject or buffer-stall streams whose peaks overshoot;
		// capping maxrate at the target with a 2 s buffer keeps the peaks
		// within what the ingest budgets, while still letting a keyframe
		// borrow from the frames around it.
		{"maxrate", strconv.Itoa(c.VideoBitrate)},
		{"bufsize", strconv.Itoa(2 * c.VideoBitrate)},
		// GLOBAL_HEADER turns x264's repeat-headers off; switch it back on
		// so SPS/PPS also precede every IDR in band: an RTMP reconnect or
		// an HLS segment starts at an IDR and must be decodable alone.
		{"x264-params", "repeat-headers=1:scenecut=0"},
	} {
		if err := opts.Set(kv[0], kv[1], 0); err != nil {
			return fmt.Errorf("muxer: setting libx264 option %s: %w", kv[0], err)
		}
	}
	if err := cc.Open(codec, opts); err != nil {
		return fmt.Errorf("muxer: opening libx264 (%dx%d@%d, preset %q): %w", c.Width, c.Height, c.FPS, c.Preset, err)
	}
	if err := avmux.UnusedOptions(opts); err != nil {
		return fmt.Errorf("muxer: libx264: %w", err)
	}
	extra := cc.ExtraData()
	if len(extra) == 0 {
		return errors.New("muxer: libx264 produced no extradata")
	}
	e.info.Video = output.VideoInfo{
		Width: c.Width, Height: c.Height, FPS: c.FPS,
		TimeBase:  output.Rational{Num: 1, Den: c.FPS},
		Bitrate:   c.VideoBitrate,
		Extradata: extra,
	}
	e.vframe = astiav.AllocFrame()
	e.vpkt = astiav.AllocPacket()
	return nil
}

func (e *Encoder) openAudio() error {
	c := e.cfg
	codec := astiav.FindEncoderByName("aac")
	if codec == nil {
		return errors.New("muxer: native aac encoder not found in this FFmpeg build")
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return errors.New("muxer: allocating aac context failed")
	}
	e.acc = cc
	cc.SetSampleFormat(astiav.SampleFormatFltp)
	cc.SetSampleRate(c.SampleRate)
	cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	cc.SetBitRate(int64(c.AudioBitrate))
	cc.SetTimeBase(astiav.NewRational(1, c.SampleRate))
	cc.SetProfile(astiav.ProfileAacLow)
	// GLOBAL_HEADER: raw AAC frames with the AudioSpecificConfig in
	// extradata, rather than ADTS headers in every frame.
	cc.SetFlags(cc.Flags().Add(astiav.CodecContextFlagGlobalHeader))
	if err := cc.Open(codec, nil); err != nil {
		return fmt.Errorf("muxer: opening aac (%d Hz, %d bps): %w", c.SampleRate, c.AudioBitrate, err)
	}
	e.frameSize = cc.FrameSize()
	if e.frameSize <= 0 {
		return fmt.Errorf("muxer: aac reports frame size %d", e.frameSize)
	}
	extra := cc.ExtraData()
	if len(extra) < 2 {
		return errors.New("muxer: aac produced no AudioSpecificConfig")
	}
	e.info.Audio = output.AudioInfo{
		SampleRate: c.SampleRate, Channels: audioChannels,
		TimeBase:  output.Rational{Num: 1, Den: c.SampleRate},
		Bitrate:   c.AudioBitrate,
		Extradata: extra,
	}

	f := astiav.AllocFrame()
	e.aframe = f
	f.SetSampleFormat(astiav.SampleFormatFltp)
	f.SetChannelLayout(astiav.ChannelLayoutStereo)
	f.SetSampleRate(c.SampleRate)
	f.SetNbSamples(e.frameSize)
	if err := f.AllocBuffer(0); err != nil {
		return fmt.Errorf("muxer: allocating audio frame: %w", err)
	}
	planes, err := avframe.AudioPlanes(f, audioChannels)
	if err != nil {
		return fmt.Errorf("muxer: audio frame planes: %w", err)
	}
	// The planes stay valid: the frame keeps its buffer for the encoder's
	// whole life (see sendAudio for why reusing it is safe).
	copy(e.aplanes[:], planes)
	e.apkt = astiav.AllocPacket()
	return nil
}

// Info describes the encoded streams.
func (e *Encoder) Info() output.StreamInfo { return e.info }

// Stats returns counters; safe to call from any goroutine.
func (e *Encoder) Stats() EncoderStats {
	s := &e.stats
	return EncoderStats{
		VideoFrames: s.videoFrames.Load(), VideoPackets: s.videoPackets.Load(),
		KeyFrames: s.keyFrames.Load(), VideoBytes: s.videoBytes.Load(),
		AudioSamples: s.audioSamples.Load(), AudioPackets: s.audioPackets.Load(),
		AudioBytes:      s.audioBytes.Load(),
		VideoEncodeTime: time.Duration(s.videoEncodeNanos.Load()),
	}
}

// WriteVideo encodes one yuv420p frame of the configured size. pts is the
// frame index (time base 1/FPS) and must increase. The frame stays the
// caller's: it is only read during the call.
func (e *Encoder) WriteVideo(f *astiav.Frame, pts int64) error {
	e.vmu.Lock()
	defer e.vmu.Unlock()
	if e.vclosed {
		return errors.New("muxer: WriteVideo after Close")
	}
	if f.PixelFormat() != astiav.PixelFormatYuv420P || f.Width() != e.cfg.Width || f.Height() != e.cfg.Height {
		return fmt.Errorf("muxer: video frame is %s %dx%d, want yuv420p %dx%d",
			f.PixelFormat(), f.Width(), f.Height(), e.cfg.Width, e.cfg.Height)
	}
	if pts <= e.lastPTS {
		return fmt.Errorf("muxer: video pts %d does not follow %d", pts, e.lastPTS)
	}
	// A reference, not a copy, so that setting pts and the picture type
	// leaves the caller's frame alone. A picture type left over from a
	// decoder would make x264 force keyframes off the 2 s grid.
	if err := e.vframe.Ref(f); err != nil {
		return fmt.Errorf("muxer: referencing video frame: %w", err)
	}
	e.vframe.SetPts(pts)
	e.vframe.SetPictureType(astiav.PictureTypeNone)
	start := time.Now()
	err := e.vcc.SendFrame(e.vframe)
	// libx264 copies the picture into its own buffers inside SendFrame (the
	// packet drained last time left room for this frame to be encoded
	// right away), so the reference can go now.
	e.vframe.Unref()
	if err != nil {
		return fmt.Errorf("muxer: encoding video frame %d: %w", pts, err)
	}
	e.lastPTS = pts
	err = e.drainVideo()
	e.stats.videoEncodeNanos.Add(int64(time.Since(start)))
	e.stats.videoFrames.Add(1)
	return err
}

func (e *Encoder) drainVideo() error {
	for {
		err := e.vcc.ReceivePacket(e.vpkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("muxer: receiving video packet: %w", err)
		}
		p := &output.Packet{
			Kind:     output.Video,
			PTS:      e.vpkt.Pts(),
			DTS:      e.vpkt.Dts(),
			Duration: e.vpkt.Duration(),
			Key:      e.vpkt.Flags().Has(astiav.PacketFlagKey),
			Data:     e.vpkt.Data(), // a Go copy: packets outlive the AVPacket
		}
		e.vpkt.Unref()
		if p.Duration <= 0 {
			// Constant frame rate: every frame lasts one tick. libx264
			// does not set it, but the MP4 track's last sample and the
			// HLS segment durations need it.
			p.Duration = 1
		}
		e.stats.videoPackets.Add(1)
		e.stats.videoBytes.Add(int64(len(p.Data)))
		if p.Key {
			e.stats.keyFrames.Add(1)
		}
		e.out.WritePacket(p)
	}
}

// WriteAudio encodes interleaved stereo float32 samples. pts is the first
// sample's time in samples (time base 1/SampleRate). Chunks may be any size;
// they are gathered into AAC frames. A chunk that starts later than the
// previous one ended has the gap filled with silence (up to maxAudioGap); one
// that overlaps the previous loses the overlapping samples.
func (e *Encoder) WriteAudio(samples []float32, pts int64) error {
	e.amu.Lock()
	defer e.amu.Unlock()
	if e.aclosed {
		return errors.New("muxer: WriteAudio after Close")
	}
	if len(samples)%audioChannels != 0 {
		return fmt.Errorf("muxer: %d audio values are not whole stereo samples", len(samples))
	}
	n := int64(len(samples) / audioChannels)
	if !e.started {
		e.started = true
		e.next = pts
	}
	switch gap := pts - e.next; {
	case gap > int64(e.cfg.SampleRate)*maxAudioGapSeconds:
		// A long hole (the mixer stalled): finish the pending frame with
		// silence and restart the frame grid at pts. The AAC encoder takes
		// the jump since its timestamps come from the frames' pts.
		if e.filled > 0 {
			if err := e.addSilence(int64(e.frameSize - e.filled)); err != nil {
				return err
			}
		}
		e.log.Warn("audio gap, restarting at new pts", "expected", e.next, "pts", pts)
		e.next = pts
	case gap > 0:
		if err := e.addSilence(gap); err != nil {
			return err
		}
	case gap < 0:
		skip := -gap
		if skip >= n {
			return nil
		}
		samples = samples[skip*audioChannels:]
		n -= skip
	}
	for len(samples) > 0 {
		if e.filled == 0 {
			e.frameAt = e.next
		}
		k := min(len(samples)/audioChannels, e.frameSize-e.filled)
		l, r := e.aplanes[0][e.filled*4:], e.aplanes[1][e.filled*4:]
		for i := 0; i < k; i++ {
			binary.NativeEndian.PutUint32(l[i*4:], math.Float32bits(samples[2*i]))
			binary.NativeEndian.PutUint32(r[i*4:], math.Float32bits(samples[2*i+1]))
		}
		samples = samples[k*audioChannels:]
		e.filled += k
		e.next += int64(k)
		if e.filled == e.frameSize {
			if err := e.sendAudio(); err != nil {
				return err
			}
		}
	}
	e.stats.audioSamples.Add(n)
	return nil
}

// maxAudioGapSeconds bounds the silence WriteAudio inserts for a gap.
const maxAudioGapSeconds = 1

func (e *Encoder) addSilence(n int64) error {
	for n > 0 {
		if e.filled == 0 {
			e.frameAt = e.next
		}
		k := min(int(n), e.frameSize-e.filled)
		clear(e.aplanes[0][e.filled*4 : (e.filled+k)*4])
		clear(e.aplanes[1][e.filled*4 : (e.filled+k)*4])
		e.filled += k
		e.next += int64(k)
		n -= int64(k)
		e.stats.audioSamples.Add(int64(k))
		if e.filled == e.frameSize {
			if err := e.sendAudio(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendAudio encodes the filled frame. Refilling the same frame afterwards is
// safe: FFmpeg's send_frame moves the frame into the encoder and, as the
// previous packets were all drained, encodes it at once; the AAC encoder
// copies the samples into its own state and drops its reference before
// SendFrame returns.
func (e *Encoder) sendAudio() error {
	e.aframe.SetNbSamples(e.filled)
	e.aframe.SetPts(e.frameAt)
	if !e.sentAny {
		e.sentAny = true
		e.firstIn = e.frameAt
	}
	err := e.acc.SendFrame(e.aframe)
	e.aframe.SetNbSamples(e.frameSize)
	e.filled = 0
	if err != nil {
		return fmt.Errorf("muxer: encoding audio at %d: %w", e.frameAt, err)
	}
	return e.drainAudio()
}

func (e *Encoder) drainAudio() error {
	for {
		err := e.acc.ReceivePacket(e.apkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("muxer: receiving audio packet: %w", err)
		}
		if e.apkt.Pts() < e.firstIn {
			// The AAC encoder's first packet starts initial_padding (1024)
			// samples before the first input sample: its priming. FLV
			// timestamps are unsigned and MPEG-TS sinks expect the streams
			// to start together, and shifting the whole audio timeline
			// later would put audio 21 ms behind video. Dropping the
			// priming packet keeps every other packet at its true time;
			// the decoder's first 21 ms then lack their overlap half,
			// which is inaudible at a stream's start.
			e.apkt.Unref()
			continue
		}
		p := &output.Packet{
			Kind:     output.Audio,
			PTS:      e.apkt.Pts(),
			DTS:      e.apkt.Dts(),
			Duration: e.apkt.Duration(),
			Key:      true,
			Data:     e.apkt.Data(),
		}
		e.apkt.Unref()
		if p.Duration <= 0 {
			p.Duration = int64(e.frameSize)
		}
		e.stats.audioPackets.Add(1)
		e.stats.audioBytes.Add(int64(len(p.Data)))
		e.out.WritePacket(p)
	}
}

// Close flushes both encoders, emits the remaining packets and frees the
// encoders. Calling it again does nothing.
func (e *Encoder) Close() error {
	var errs []error
	e.vmu.Lock()
	if !e.vclosed {
		e.vclosed = true
		if err := e.vcc.SendFrame(nil); err != nil {
			errs = append(errs, fmt.Errorf("muxer: flushing libx264: %w", err))
		} else if err := e.drainVideo(); err != nil {
			errs = append(errs, err)
		}
	}
	e.vmu.Unlock()

	e.amu.Lock()
	if !e.aclosed {
		e.aclosed = true
		// The AAC encoder accepts a short last frame.
		if e.filled > 0 {
			if err := e.sendAudio(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := e.acc.SendFrame(nil); err != nil {
			errs = append(errs, fmt.Errorf("muxer: flushing aac: %w", err))
		} else if err := e.drainAudio(); err != nil {
			errs = append(errs, err)
		}
	}
	e.amu.Unlock()

	e.vmu.Lock()
	e.amu.Lock()
	e.free()
	e.amu.Unlock()
	e.vmu.Unlock()
	st := e.Stats()
	e.log.Info("encoder closed", "video_frames", st.VideoFrames, "video_bytes", st.VideoBytes,
		"audio_packets", st.AudioPackets, "video_encode_time", st.VideoEncodeTime)
	return errors.Join(errs...)
}

func (e *Encoder) free() {
	for _, f := range []**astiav.Frame{&e.vframe, &e.aframe} {
		if *f != nil {
			(*f).Free()
			*f = nil
		}
	}
	for _, p := range []**astiav.Packet{&e.vpkt, &e.apkt} {
		if *p != nil {
			(*p).Free()
			*p = nil
		}
	}
	for _, cc := range []**astiav.CodecContext{&e.vcc, &e.acc} {
		if *cc != nil {
			(*cc).Free()
			*cc = nil
		}
	}
	e.aplanes = [audioChannels][]byte{}
}

func loggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
