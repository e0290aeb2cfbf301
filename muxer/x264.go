package muxer

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// gopSeconds is the keyframe interval. RTMP services want a keyframe at least
// every 2 to 4 s, and HLS cuts segments at keyframes, so a fixed 2 s GOP lets
// every output cut at the same places.
const gopSeconds = 2

// videoEncoder is the libx264 side of an Encoder, guarded by its own lock.
type videoEncoder struct {
	mu      sync.Mutex
	cc      *astiav.CodecContext
	frame   *astiav.Frame // a reference to the caller's frame while encoding it
	pkt     *astiav.Packet
	lastPTS int64
	closed  bool
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
	e.v.cc = cc
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
	e.v.frame = astiav.AllocFrame()
	e.v.pkt = astiav.AllocPacket()
	return nil
}

// WriteVideo encodes one yuv420p frame of the configured size. pts is the
// frame index (time base 1/FPS) and must increase. The frame stays the
// caller's: it is only read during the call.
func (e *Encoder) WriteVideo(f *astiav.Frame, pts int64) error {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	if e.v.closed {
		if e.cfg.AudioOnly {
			return errors.New("muxer: WriteVideo on an audio-only encoder")
		}
		return errors.New("muxer: WriteVideo after Close")
	}
	if f.PixelFormat() != astiav.PixelFormatYuv420P || f.Width() != e.cfg.Width || f.Height() != e.cfg.Height {
		return fmt.Errorf("muxer: video frame is %s %dx%d, want yuv420p %dx%d",
			f.PixelFormat(), f.Width(), f.Height(), e.cfg.Width, e.cfg.Height)
	}
	if pts <= e.v.lastPTS {
		return fmt.Errorf("muxer: video pts %d does not follow %d", pts, e.v.lastPTS)
	}
	// A reference, not a copy, so that setting pts and the picture type
	// leaves the caller's frame alone. A picture type left over from a
	// decoder would make x264 force keyframes off the 2 s grid.
	if err := e.v.frame.Ref(f); err != nil {
		return fmt.Errorf("muxer: referencing video frame: %w", err)
	}
	e.v.frame.SetPts(pts)
	e.v.frame.SetPictureType(astiav.PictureTypeNone)
	start := time.Now()
	err := e.v.cc.SendFrame(e.v.frame)
	// libx264 copies the picture into its own buffers inside SendFrame (the
	// packet drained last time left room for this frame to be encoded
	// right away), so the reference can go now.
	e.v.frame.Unref()
	if err != nil {
		return fmt.Errorf("muxer: encoding video frame %d: %w", pts, err)
	}
	e.v.lastPTS = pts
	err = e.drainVideo()
	e.stats.videoEncodeNanos.Add(int64(time.Since(start)))
	e.stats.videoFrames.Add(1)
	return err
}

func (e *Encoder) drainVideo() error {
	for {
		err := e.v.cc.ReceivePacket(e.v.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("muxer: receiving video packet: %w", err)
		}
		p := &output.Packet{
			Kind:     output.Video,
			PTS:      e.v.pkt.Pts(),
			DTS:      e.v.pkt.Dts(),
			Duration: e.v.pkt.Duration(),
			Key:      e.v.pkt.Flags().Has(astiav.PacketFlagKey),
			Data:     e.v.pkt.Data(), // a Go copy: packets outlive the AVPacket
		}
		e.v.pkt.Unref()
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

// closeVideo flushes libx264 and emits its last packets, once.
func (e *Encoder) closeVideo() error {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	if e.v.closed {
		return nil
	}
	e.v.closed = true
	if err := e.v.cc.SendFrame(nil); err != nil {
		return fmt.Errorf("muxer: flushing libx264: %w", err)
	}
	return e.drainVideo()
}

func (v *videoEncoder) free() {
	if v.frame != nil {
		v.frame.Free()
		v.frame = nil
	}
	if v.pkt != nil {
		v.pkt.Free()
		v.pkt = nil
	}
	if v.cc != nil {
		v.cc.Free()
		v.cc = nil
	}
}
