package muxer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/muxer/output"
)

// audioChannels is fixed: the mixer produces stereo.
const audioChannels = 2

// audioEncoder is the AAC side of an Encoder, guarded by its own lock: it
// gathers WriteAudio's chunks into whole AAC frames.
type audioEncoder struct {
	mu        sync.Mutex
	cc        *astiav.CodecContext
	frame     *astiav.Frame // reused: filled in Go, sent, filled again
	pkt       *astiav.Packet
	planes    [audioChannels][]byte
	frameSize int   // samples per AAC frame (1024)
	filled    int   // samples in frame so far
	frameAt   int64 // PTS of frame's first sample
	next      int64 // PTS the next WriteAudio is expected to start at
	started   bool  // any audio written
	firstIn   int64 // PTS of the first frame sent to the AAC encoder
	sentAny   bool  // firstIn is set
	closed    bool
}

// aacSampleRates are the rates AAC's AudioSpecificConfig can signal by index.
var aacSampleRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

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
	e.a.cc = cc
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
	e.a.frameSize = cc.FrameSize()
	if e.a.frameSize <= 0 {
		return fmt.Errorf("muxer: aac reports frame size %d", e.a.frameSize)
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
	e.a.frame = f
	f.SetSampleFormat(astiav.SampleFormatFltp)
	f.SetChannelLayout(astiav.ChannelLayoutStereo)
	f.SetSampleRate(c.SampleRate)
	f.SetNbSamples(e.a.frameSize)
	if err := f.AllocBuffer(0); err != nil {
		return fmt.Errorf("muxer: allocating audio frame: %w", err)
	}
	planes, err := avframe.AudioPlanes(f, audioChannels)
	if err != nil {
		return fmt.Errorf("muxer: audio frame planes: %w", err)
	}
	// The planes stay valid: the frame keeps its buffer for the encoder's
	// whole life (see sendAudio for why reusing it is safe).
	copy(e.a.planes[:], planes)
	e.a.pkt = astiav.AllocPacket()
	return nil
}

// WriteAudio encodes interleaved stereo float32 samples. pts is the first
// sample's time in samples (time base 1/SampleRate). Chunks may be any size;
// they are gathered into AAC frames. A chunk that starts later than the
// previous one ended has the gap filled with silence (up to maxAudioGap); one
// that overlaps the previous loses the overlapping samples.
func (e *Encoder) WriteAudio(samples []float32, pts int64) error {
	e.a.mu.Lock()
	defer e.a.mu.Unlock()
	if e.a.closed {
		return errors.New("muxer: WriteAudio after Close")
	}
	if len(samples)%audioChannels != 0 {
		return fmt.Errorf("muxer: %d audio values are not whole stereo samples", len(samples))
	}
	n := int64(len(samples) / audioChannels)
	if !e.a.started {
		e.a.started = true
		e.a.next = pts
	}
	switch gap := pts - e.a.next; {
	case gap > int64(e.cfg.SampleRate)*maxAudioGapSeconds:
		// A long hole (the mixer stalled): finish the pending frame with
		// silence and restart the frame grid at pts. The AAC encoder takes
		// the jump since its timestamps come from the frames' pts.
		if e.a.filled > 0 {
			if err := e.addSilence(int64(e.a.frameSize - e.a.filled)); err != nil {
				return err
			}
		}
		e.log.Warn("audio gap, restarting at new pts", "expected", e.a.next, "pts", pts)
		e.a.next = pts
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
		if e.a.filled == 0 {
			e.a.frameAt = e.a.next
		}
		k := min(len(samples)/audioChannels, e.a.frameSize-e.a.filled)
		l, r := e.a.planes[0][e.a.filled*4:], e.a.planes[1][e.a.filled*4:]
		for i := 0; i < k; i++ {
			binary.NativeEndian.PutUint32(l[i*4:], math.Float32bits(samples[2*i]))
			binary.NativeEndian.PutUint32(r[i*4:], math.Float32bits(samples[2*i+1]))
		}
		samples = samples[k*audioChannels:]
		e.a.filled += k
		e.a.next += int64(k)
		if e.a.filled == e.a.frameSize {
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
		if e.a.filled == 0 {
			e.a.frameAt = e.a.next
		}
		k := min(int(n), e.a.frameSize-e.a.filled)
		clear(e.a.planes[0][e.a.filled*4 : (e.a.filled+k)*4])
		clear(e.a.planes[1][e.a.filled*4 : (e.a.filled+k)*4])
		e.a.filled += k
		e.a.next += int64(k)
		n -= int64(k)
		e.stats.audioSamples.Add(int64(k))
		if e.a.filled == e.a.frameSize {
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
	e.a.frame.SetNbSamples(e.a.filled)
	e.a.frame.SetPts(e.a.frameAt)
	if !e.a.sentAny {
		e.a.sentAny = true
		e.a.firstIn = e.a.frameAt
	}
	err := e.a.cc.SendFrame(e.a.frame)
	e.a.frame.SetNbSamples(e.a.frameSize)
	e.a.filled = 0
	if err != nil {
		return fmt.Errorf("muxer: encoding audio at %d: %w", e.a.frameAt, err)
	}
	return e.drainAudio()
}

func (e *Encoder) drainAudio() error {
	for {
		err := e.a.cc.ReceivePacket(e.a.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("muxer: receiving audio packet: %w", err)
		}
		if e.a.pkt.Pts() < e.a.firstIn {
			// The AAC encoder's first packet starts initial_padding (1024)
			// samples before the first input sample: its priming. FLV
			// timestamps are unsigned and MPEG-TS sinks expect the streams
			// to start together, and shifting the whole audio timeline
			// later would put audio 21 ms behind video. Dropping the
			// priming packet keeps every other packet at its true time;
			// the decoder's first 21 ms then lack their overlap half,
			// which is inaudible at a stream's start.
			e.a.pkt.Unref()
			continue
		}
		p := &output.Packet{
			Kind:     output.Audio,
			PTS:      e.a.pkt.Pts(),
			DTS:      e.a.pkt.Dts(),
			Duration: e.a.pkt.Duration(),
			Key:      true,
			Data:     e.a.pkt.Data(),
		}
		e.a.pkt.Unref()
		if p.Duration <= 0 {
			p.Duration = int64(e.a.frameSize)
		}
		e.stats.audioPackets.Add(1)
		e.stats.audioBytes.Add(int64(len(p.Data)))
		e.out.WritePacket(p)
	}
}

// closeAudio encodes the last, short frame, flushes the AAC encoder and
// emits its last packets, once.
func (e *Encoder) closeAudio() error {
	e.a.mu.Lock()
	defer e.a.mu.Unlock()
	if e.a.closed {
		return nil
	}
	e.a.closed = true
	var errs []error
	// The AAC encoder accepts a short last frame.
	if e.a.filled > 0 {
		if err := e.sendAudio(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.a.cc.SendFrame(nil); err != nil {
		errs = append(errs, fmt.Errorf("muxer: flushing aac: %w", err))
	} else if err := e.drainAudio(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (a *audioEncoder) free() {
	if a.frame != nil {
		a.frame.Free()
		a.frame = nil
	}
	if a.pkt != nil {
		a.pkt.Free()
		a.pkt = nil
	}
	if a.cc != nil {
		a.cc.Free()
		a.cc = nil
	}
	a.planes = [audioChannels][]byte{}
}
