package pipeline

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avpacket"
)

// Limits on a decoded picture. A sender's bitstream says how big its frames
// are, and FFmpeg's own check lets through anything under 2^28 bytes of
// picture: a VP8 keyframe claiming 8000x8000 made a 320x240 stream cost
// 1.2 GiB and half the job's frames late. These cover every real camera and
// screen (8K UHD, DCI 8K) and bound a decoder's memory at a few hundred MiB.
const (
	// maxPixels goes to the decoder as max_pixels: a keyframe over it fails
	// to decode (an error: the frame is dropped and a keyframe asked for)
	// before any buffer of that size is allocated.
	maxPixels = 8192 * 4320
	// maxFrameSide bounds each side, which max_pixels does not (16383x2000
	// is under it); a frame beyond it is dropped before it reaches the Sink.
	maxFrameSide = 8192
)

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
	var opts *astiav.Dictionary
	if c != codecOpus {
		opts = astiav.NewDictionary()
		defer opts.Free()
		if err := opts.Set("max_pixels", strconv.Itoa(maxPixels), 0); err != nil {
			d.cc.Free()
			return nil, fmt.Errorf("setting %s max_pixels: %w", codec.Name(), err)
		}
	}
	if err := d.cc.Open(codec, opts); err != nil {
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
