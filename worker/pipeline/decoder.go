package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/avpacket"
)

// audioRate is the sample rate the Sink takes.
const audioRate = 48000

// codecKind is the depacketizing family of a track's codec.
type codecKind int

const (
	codecVP8 codecKind = iota
	codecVP9
	codecH264
	codecAV1
	codecOpus
)

// codecOf maps a WebRTC MIME type to a codec.
func codecOf(mime string) (codecKind, error) {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return codecVP8, nil
	case "video/vp9":
		return codecVP9, nil
	case "video/h264":
		return codecH264, nil
	case "video/av1":
		return codecAV1, nil
	case "audio/opus":
		return codecOpus, nil
	}
	return 0, fmt.Errorf("unsupported codec %q", mime)
}

// findDecoder picks the FFmpeg decoder. AV1 goes by name: FFmpeg 5.1's
// native av1 decoder only works with a hardware accelerator, and go-astiav
// v0.16.0 has no AV1 codec id.
func findDecoder(c codecKind) (*astiav.Codec, error) {
	var dec *astiav.Codec
	switch c {
	case codecVP8:
		dec = astiav.FindDecoder(astiav.CodecIDVp8)
	case codecVP9:
		dec = astiav.FindDecoder(astiav.CodecIDVp9)
	case codecH264:
		dec = astiav.FindDecoder(astiav.CodecIDH264)
	case codecAV1:
		for _, name := range []string{"libdav1d", "libaom-av1"} {
			if dec = astiav.FindDecoderByName(name); dec != nil {
				break
			}
		}
	case codecOpus:
		dec = astiav.FindDecoder(astiav.CodecIDOpus)
	}
	if dec == nil {
		return nil, errors.New("no FFmpeg decoder for it")
	}
	return dec, nil
}

// decoder wraps an FFmpeg decoder with reused packet, frame and buffer.
type decoder struct {
	cc     *astiav.CodecContext
	pkt    *astiav.Packet
	frame  *astiav.Frame
	padded []byte // scratch for avpacket.SetData
}

func newDecoder(c codecKind, threads int) (*decoder, error) {
	codec, err := findDecoder(c)
	if err != nil {
		return nil, err
	}
	d := &decoder{}
	if d.cc = astiav.AllocCodecContext(codec); d.cc == nil {
		return nil, fmt.Errorf("allocating %s decoder context failed", codec.Name())
	}
	if c == codecOpus {
		// WebRTC Opus is 48 kHz stereo on the wire whatever the source; asking
		// for stereo makes FFmpeg upmix mono packets itself.
		d.cc.SetSampleRate(audioRate)
		d.cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	} else {
		// LOW_DELAY keeps frame threading (one frame of delay per thread) off;
		// the threads work on slices, and libdav1d holds at most one frame.
		d.cc.SetFlags(d.cc.Flags().Add(astiav.CodecContextFlagLowDelay))
		d.cc.SetThreadCount(threads)
		if threads > 1 {
			d.cc.SetThreadType(astiav.ThreadTypeSlice)
		}
	}
	if err := d.cc.Open(codec, nil); err != nil {
		d.cc.Free()
		return nil, fmt.Errorf("opening %s decoder: %w", codec.Name(), err)
	}
	d.pkt = astiav.AllocPacket()
	d.frame = astiav.AllocFrame()
	if d.pkt == nil || d.frame == nil {
		d.close()
		return nil, errors.New("allocating packet or frame failed")
	}
	return d, nil
}

// send feeds one frame of compressed data with a presentation time.
func (d *decoder) send(data []byte, pts int64) error {
	var err error
	if d.padded, err = avpacket.SetData(d.pkt, data, d.padded); err != nil {
		return err
	}
	d.pkt.SetPts(pts)
	err = d.cc.SendPacket(d.pkt)
	d.pkt.Unref()
	if err != nil {
		return fmt.Errorf("send packet: %w", err)
	}
	return nil
}

// flush tells the decoder no more data will come, so it gives out what it
// still holds.
func (d *decoder) flush() error {
	if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// receive fetches the next decoded frame into d.frame; false when the decoder
// needs more input (or is drained).
func (d *decoder) receive() (bool, error) {
	err := d.cc.ReceiveFrame(d.frame)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, astiav.ErrEagain), errors.Is(err, astiav.ErrEof):
		return false, nil
	}
	return false, fmt.Errorf("receive frame: %w", err)
}

func (d *decoder) close() {
	if d.frame != nil {
		d.frame.Free()
		d.frame = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
}

// appendStereo appends a decoded audio frame to dst as interleaved stereo
// float32: mono is duplicated, channels past the first two are dropped.
func appendStereo(dst []float32, f *astiav.Frame, channels int) ([]float32, error) {
	if sr := f.SampleRate(); sr != audioRate {
		return dst, fmt.Errorf("audio at %d Hz; only %d Hz is supported", sr, audioRate)
	}
	if channels < 1 {
		return dst, fmt.Errorf("audio with %d channels", channels)
	}
	planes, err := avframe.AudioPlanes(f, channels)
	if err != nil {
		return dst, err
	}
	n := f.NbSamples()
	var read func(b []byte, i int) float32
	planar := len(planes) > 1 || channels == 1
	switch sf := f.SampleFormat(); sf {
	case astiav.SampleFormatFltp, astiav.SampleFormatFlt:
		read = readFloat32
	case astiav.SampleFormatS16P, astiav.SampleFormatS16:
		read = readS16
	default:
		return dst, fmt.Errorf("unsupported sample format %s", sf)
	}
	r := 0
	if channels > 1 {
		r = 1
	}
	for i := 0; i < n; i++ {
		var l, rv float32
		if planar {
			l = read(planes[0], i)
			rv = read(planes[r], i)
		} else {
			l = read(planes[0], i*channels)
			rv = read(planes[0], i*channels+r)
		}
		dst = append(dst, l, rv)
	}
	return dst, nil
}

func readFloat32(b []byte, i int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
}

func readS16(b []byte, i int) float32 {
	return float32(int16(binary.LittleEndian.Uint16(b[2*i:]))) / 32768
}
