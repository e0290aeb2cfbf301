package avmux

import (
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avpacket"
	"github.com/roomcast/roomcast/muxer/output"
)

// Output writes the encoded streams through one of FFmpeg's muxers.
// The archival MP4 and the HLS recording are both written this way.
type Output struct {
	fc      *astiav.FormatContext
	info    output.StreamInfo
	streams [2]*astiav.Stream // indexed by output.StreamKind
	pkt     *astiav.Packet
	scratch []byte
}

// New adds the H.264 and AAC streams info describes to fc, which
// must not have any streams yet; the AAC stream alone when info has no
// video. WriteHeader is still the caller's to do.
func New(fc *astiav.FormatContext, info output.StreamInfo) (*Output, error) {
	o := &Output{fc: fc, info: info}
	if info.HasVideo() {
		if err := o.addVideo(); err != nil {
			return nil, err
		}
	}
	if err := o.addAudio(); err != nil {
		return nil, err
	}
	o.pkt = astiav.AllocPacket()
	return o, nil
}

func (o *Output) addVideo() error {
	fc, info := o.fc, o.info
	v := fc.NewStream(nil)
	if v == nil {
		return errors.New("adding video stream failed")
	}
	vp := v.CodecParameters()
	vp.SetMediaType(astiav.MediaTypeVideo)
	vp.SetCodecID(astiav.CodecIDH264)
	vp.SetWidth(info.Video.Width)
	vp.SetHeight(info.Video.Height)
	vp.SetPixelFormat(astiav.PixelFormatYuv420P)
	vp.SetSampleAspectRatio(astiav.NewRational(1, 1))
	// Annex-B SPS/PPS: the mp4 muxer converts them into the avcC box.
	if err := vp.SetExtraData(info.Video.Extradata); err != nil {
		return fmt.Errorf("setting video extradata: %w", err)
	}
	v.SetTimeBase(astiav.NewRational(info.Video.TimeBase.Num, info.Video.TimeBase.Den))
	if info.Video.FPS > 0 {
		// Declaring the rate makes the mp4 muxer pick a timescale that is a
		// multiple of it, so every sample gets the same duration and probes
		// see CFR.
		fps := astiav.NewRational(info.Video.FPS, 1)
		v.SetAvgFrameRate(fps)
		v.SetRFrameRate(fps)
	}
	o.streams[output.Video] = v
	return nil
}

func (o *Output) addAudio() error {
	fc, info := o.fc, o.info
	a := fc.NewStream(nil)
	if a == nil {
		return errors.New("adding audio stream failed")
	}
	ap := a.CodecParameters()
	ap.SetMediaType(astiav.MediaTypeAudio)
	ap.SetCodecID(astiav.CodecIDAac)
	ap.SetSampleRate(info.Audio.SampleRate)
	ap.SetSampleFormat(astiav.SampleFormatFltp)
	ap.SetFrameSize(1024)
	switch info.Audio.Channels {
	case 1:
		ap.SetChannelLayout(astiav.ChannelLayoutMono)
	case 2:
		ap.SetChannelLayout(astiav.ChannelLayoutStereo)
	default:
		return fmt.Errorf("%d audio channels (want 1 or 2)", info.Audio.Channels)
	}
	// The AudioSpecificConfig: the mp4 muxer's esds box, and the ADTS
	// headers the mpegts muxer puts in front of raw AAC frames.
	if err := ap.SetExtraData(info.Audio.Extradata); err != nil {
		return fmt.Errorf("setting audio extradata: %w", err)
	}
	a.SetTimeBase(astiav.NewRational(info.Audio.TimeBase.Num, info.Audio.TimeBase.Den))
	o.streams[output.Audio] = a
	return nil
}

// Write hands one packet to the muxer, interleaved: the muxer orders audio
// and video by DTS itself.
func (o *Output) Write(p *output.Packet) error {
	st := o.streams[p.Kind]
	if st == nil {
		return fmt.Errorf("writing a %s packet: the output has no %s stream", p.Kind, p.Kind)
	}
	tb := o.info.Video.TimeBase
	if p.Kind == output.Audio {
		tb = o.info.Audio.TimeBase
	}
	var err error
	if o.scratch, err = avpacket.SetData(o.pkt, p.Data, o.scratch); err != nil {
		return err
	}
	o.pkt.SetStreamIndex(st.Index())
	o.pkt.SetPts(p.PTS)
	o.pkt.SetDts(p.DTS)
	o.pkt.SetDuration(p.Duration)
	var flags astiav.PacketFlags
	if p.Key {
		flags = flags.Add(astiav.PacketFlagKey)
	}
	o.pkt.SetFlags(flags)
	// The muxer may have changed the stream's time base in WriteHeader (the
	// MP4 timescale, MPEG-TS's 90 kHz), so read it now rather than keep ours.
	o.pkt.RescaleTs(astiav.NewRational(tb.Num, tb.Den), st.TimeBase())
	// The muxer takes the packet's reference and leaves pkt blank for reuse.
	if err := o.fc.WriteInterleavedFrame(o.pkt); err != nil {
		o.pkt.Unref()
		return fmt.Errorf("writing %s packet at %d: %w", p.Kind, p.PTS, err)
	}
	return nil
}

// Free releases the packet; the format context stays the caller's.
func (o *Output) Free() {
	if o.pkt != nil {
		o.pkt.Free()
		o.pkt = nil
	}
}

// UnusedOptions reports options that FFmpeg left in the dictionary, i.e. did
// not recognize: a misspelled option must not silently do nothing.
func UnusedOptions(d *astiav.Dictionary) error {
	var left []string
	for en := d.Get("", nil, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)); en != nil; en = d.Get("", en, astiav.NewDictionaryFlags(astiav.DictionaryFlagIgnoreSuffix)) {
		left = append(left, en.Key()+"="+en.Value())
	}
	if len(left) > 0 {
		return fmt.Errorf("options not recognized: %s", strings.Join(left, ", "))
	}
	return nil
}
