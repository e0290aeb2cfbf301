package analyze

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
)

// input is an open media file with decoders for its first video and first
// audio stream, when asked for.
type input struct {
	path  string
	fc    *astiav.FormatContext
	start float64 // container start time, subtracted from every timestamp
	video *decoder
	audio *decoder
	pkt   *astiav.Packet
	frame *astiav.Frame
}

type decoder struct {
	st   *astiav.Stream
	cc   *astiav.CodecContext
	tb   float64
	next float64 // expected time of the next frame, for frames without pts
}

// openInput opens path and the decoders asked for. A missing stream that was
// asked for is not an error: the caller sees a nil decoder and reports it.
func openInput(path string, wantVideo, wantAudio bool) (*input, error) {
	in := &input{path: path}
	in.fc = astiav.AllocFormatContext()
	if in.fc == nil {
		return nil, errors.New("analyze: allocating format context failed")
	}
	if err := in.fc.OpenInput(path, nil, nil); err != nil {
		in.fc.Free() // avformat_open_input has already freed and nulled it
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := in.fc.FindStreamInfo(nil); err != nil {
		in.fc.CloseInput()
		return nil, fmt.Errorf("reading stream info of %s: %w", path, err)
	}
	if st := in.fc.StartTime(); st != astiav.NoPtsValue {
		in.start = float64(st) / 1e6
	}
	for _, s := range in.fc.Streams() {
		mt := s.CodecParameters().MediaType()
		var err error
		switch {
		case mt == astiav.MediaTypeVideo && wantVideo && in.video == nil:
			in.video, err = openDecoder(s)
		case mt == astiav.MediaTypeAudio && wantAudio && in.audio == nil:
			in.audio, err = openDecoder(s)
		}
		if err != nil {
			in.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	in.pkt = astiav.AllocPacket()
	in.frame = astiav.AllocFrame()
	return in, nil
}

func openDecoder(s *astiav.Stream) (*decoder, error) {
	cp := s.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, fmt.Errorf("no decoder for stream %d (%s)", s.Index(), cp.CodecID().Name())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, fmt.Errorf("allocating decoder for stream %d failed", s.Index())
	}
	if err := cp.ToCodecContext(cc); err != nil {
		cc.Free()
		return nil, fmt.Errorf("configuring decoder for stream %d: %w", s.Index(), err)
	}
	if cp.MediaType() == astiav.MediaTypeVideo {
		// Two threads: the machine is shared, and a second thread already
		// roughly doubles H.264 decoding speed.
		cc.SetThreadCount(2)
	}
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("opening %s decoder for stream %d: %w", codec.Name(), s.Index(), err)
	}
	return &decoder{st: s, cc: cc, tb: s.TimeBase().Float64()}, nil
}

func (in *input) Close() {
	if in.video != nil {
		in.video.cc.Free()
	}
	if in.audio != nil {
		in.audio.cc.Free()
	}
	if in.pkt != nil {
		in.pkt.Free()
	}
	if in.frame != nil {
		in.frame.Free()
	}
	in.fc.CloseInput()
}

// frameFunc receives a decoded frame and its time in seconds from the start
// of the file. The frame is only valid during the call. Returning errStop ends
// the run early without error.
type frameFunc func(f *astiav.Frame, t float64) error

var errStop = errors.New("stop")

// run demuxes the file and decodes the opened streams, handing each frame to
// onVideo or onAudio. Packets of streams without a handler are not decoded.
func (in *input) run(ctx context.Context, onVideo, onAudio frameFunc) error {
	err := in.loop(ctx, onVideo, onAudio)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (in *input) loop(ctx context.Context, onVideo, onAudio frameFunc) error {
	type target struct {
		d  *decoder
		fn frameFunc
	}
	var targets []target
	if in.video != nil && onVideo != nil {
		targets = append(targets, target{in.video, onVideo})
	}
	if in.audio != nil && onAudio != nil {
		targets = append(targets, target{in.audio, onAudio})
	}
	find := func(idx int) *target {
		for i := range targets {
			if targets[i].d.st.Index() == idx {
				return &targets[i]
			}
		}
		return nil
	}
	for n := 0; ; n++ {
		// Checking the context every packet is cheap next to decoding one.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := in.fc.ReadFrame(in.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				break
			}
			return fmt.Errorf("reading %s: %w", in.path, err)
		}
		tg := find(in.pkt.StreamIndex())
		if tg == nil {
			in.pkt.Unref()
			continue
		}
		err := tg.d.cc.SendPacket(in.pkt)
		in.pkt.Unref()
		// A corrupt packet is skipped, as a player would; the damage shows
		// up in the measurements instead.
		if err != nil && !errors.Is(err, astiav.ErrInvaliddata) {
			return fmt.Errorf("decoding %s: %w", in.path, err)
		}
		if err := in.drain(tg.d, tg.fn); err != nil {
			return err
		}
	}
	for _, tg := range targets {
		if err := tg.d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
			return fmt.Errorf("flushing decoder of %s: %w", in.path, err)
		}
		if err := in.drain(tg.d, tg.fn); err != nil {
			return err
		}
	}
	return nil
}

func (in *input) drain(d *decoder, fn frameFunc) error {
	for {
		if err := d.cc.ReceiveFrame(in.frame); err != nil {
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("decoding %s: %w", in.path, err)
		}
		t := d.next
		if pts := in.frame.Pts(); pts != astiav.NoPtsValue {
			t = float64(pts)*d.tb - in.start
		}
		if in.frame.NbSamples() > 0 && in.frame.SampleRate() > 0 {
			d.next = t + float64(in.frame.NbSamples())/float64(in.frame.SampleRate())
		} else if fr := d.st.AvgFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
			d.next = t + 1/fr.Float64()
		}
		err := fn(in.frame, t)
		in.frame.Unref()
		if err != nil {
			return err
		}
	}
}

// audioSamples converts an audio frame to one float32 slice per channel,
// reusing buf. AAC decodes to planar float, but the other common formats are
// handled so that any file can be measured.
func audioSamples(f *astiav.Frame, buf [][]float32) ([][]float32, error) {
	ch := f.ChannelLayout().NbChannels()
	if ch <= 0 {
		return nil, errors.New("audio frame without channels")
	}
	n := f.NbSamples()
	planes, err := avframe.AudioPlanes(f, ch)
	if err != nil {
		return nil, err
	}
	if len(buf) != ch {
		buf = make([][]float32, ch)
	}
	for c := range buf {
		if cap(buf[c]) < n {
			buf[c] = make([]float32, n)
		}
		buf[c] = buf[c][:n]
	}
	sf := f.SampleFormat()
	planar := isPlanar(sf)
	for c := 0; c < ch; c++ {
		p, stride, off := planes[0], ch, c
		if planar {
			p, stride, off = planes[c], 1, 0
		}
		dst := buf[c]
		switch sf {
		case astiav.SampleFormatFltp, astiav.SampleFormatFlt:
			for i := range dst {
				dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*(i*stride+off):]))
			}
		case astiav.SampleFormatS16P, astiav.SampleFormatS16:
			for i := range dst {
				dst[i] = float32(int16(binary.LittleEndian.Uint16(p[2*(i*stride+off):]))) / 32768
			}
		case astiav.SampleFormatS32P, astiav.SampleFormatS32:
			for i := range dst {
				dst[i] = float32(float64(int32(binary.LittleEndian.Uint32(p[4*(i*stride+off):]))) / 2147483648)
			}
		case astiav.SampleFormatDblp, astiav.SampleFormatDbl:
			for i := range dst {
				dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(p[8*(i*stride+off):])))
			}
		case astiav.SampleFormatU8P, astiav.SampleFormatU8:
			for i := range dst {
				dst[i] = (float32(p[i*stride+off]) - 128) / 128
			}
		default:
			return nil, fmt.Errorf("unsupported sample format %s", sf)
		}
	}
	return buf, nil
}

func isPlanar(sf astiav.SampleFormat) bool {
	switch sf {
	case astiav.SampleFormatU8P, astiav.SampleFormatS16P, astiav.SampleFormatS32P,
		astiav.SampleFormatFltp, astiav.SampleFormatDblp, astiav.SampleFormatS64P:
		return true
	}
	return false
}
