package mediafile

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/asticode/go-astiav"
)

// NoTimestamp marks a timestamp the container does not give.
const NoTimestamp = astiav.NoPtsValue

// Sample is one access unit of a stream, ready for a WebRTC payloader.
type Sample struct {
	Stream *Stream
	// Data is the access unit (see the package doc for each codec's form).
	// It is the caller's to keep: Read never reuses it.
	Data []byte
	// PTS, DTS and Duration are in the stream's time base, as the container
	// gives them; PTS and DTS are NoTimestamp when it does not, Duration 0.
	PTS, DTS, Duration int64
	Key                bool
}

// Reader demuxes one media file. It is not safe for concurrent use.
type Reader struct {
	info     Info
	fc       *astiav.FormatContext
	pkt      *astiav.Packet
	selected []*Stream // by stream index; nil for streams Read skips
}

// Probe opens path, describes it and closes it.
func Probe(path string) (*Info, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	info := r.info
	r.Close()
	return &info, nil
}

// Open opens path for reading. Read returns every supported stream's
// samples until Select narrows that.
func Open(path string) (_ *Reader, err error) {
	r := &Reader{info: Info{Path: path}}
	if r.fc = astiav.AllocFormatContext(); r.fc == nil {
		return nil, fmt.Errorf("opening %s: cannot allocate a format context", path)
	}
	if err := r.fc.OpenInput(path, nil, nil); err != nil {
		r.fc.Free()
		return nil, fmt.Errorf("opening %s: %w; use a WebM, Matroska or MP4 file", path, err)
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := r.fc.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("%s: cannot read stream info: %w", path, err)
	}
	if d := r.fc.Duration(); d > 0 {
		r.info.Duration = time.Duration(d) * time.Microsecond // AV_TIME_BASE units
	}
	if st := r.fc.StartTime(); st != astiav.NoPtsValue {
		r.info.StartTime = time.Duration(st) * time.Microsecond
	}
	streams := r.fc.Streams()
	r.selected = make([]*Stream, len(streams))
	for _, as := range streams {
		switch as.CodecParameters().MediaType() {
		case astiav.MediaTypeVideo, astiav.MediaTypeAudio:
		default:
			continue // data, subtitles, attachments: not media a peer sends
		}
		s, err := describe(as)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r.info.Streams = append(r.info.Streams, s)
		if s.Supported() {
			r.selected[s.Index] = s
		}
	}
	r.pkt = astiav.AllocPacket()
	return r, nil
}

// Info describes the file.
func (r *Reader) Info() *Info { return &r.info }

// Select makes Read return only the samples of these streams, which may
// come from another Reader or Probe of the same file: they are matched by
// index, and must be supported streams of this one.
func (r *Reader) Select(streams ...*Stream) error {
	sel := make([]*Stream, len(r.selected))
	for _, s := range streams {
		i := slices.IndexFunc(r.info.Streams, func(o *Stream) bool { return s != nil && o.Index == s.Index })
		if i < 0 || !r.info.Streams[i].Supported() {
			return fmt.Errorf("%s: no stream to select for %+v", r.info.Path, s)
		}
		sel[s.Index] = r.info.Streams[i]
	}
	r.selected = sel
	return nil
}

// Read fills s with the next sample of a selected stream, or returns io.EOF
// at the end of the file.
func (r *Reader) Read(s *Sample) error {
	for {
		r.pkt.Unref()
		if err := r.fc.ReadFrame(r.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return io.EOF
			}
			return fmt.Errorf("reading %s: %w", r.info.Path, err)
		}
		i := r.pkt.StreamIndex()
		if i < 0 || i >= len(r.selected) || r.selected[i] == nil {
			continue
		}
		st := r.selected[i]
		data := r.pkt.Data() // a Go copy the sample can own
		if len(data) == 0 {
			continue
		}
		key := r.pkt.Flags().Has(astiav.PacketFlagKey)
		pts := r.pkt.Pts()
		var err error
		switch st.Codec.MimeType {
		case "video/H264":
			data, err = H264AccessUnit(data, st.NALLength, st.ParamSets, key)
		case "video/AV1":
			data = AV1TemporalUnit(data, st.ParamSets, key)
		}
		if err != nil {
			return fmt.Errorf("%s: stream #%d packet at %d: %w", r.info.Path, i, pts, err)
		}
		*s = Sample{Stream: st, Data: data, PTS: pts, DTS: r.pkt.Dts(), Duration: r.pkt.Duration(), Key: key}
		return nil
	}
}

// Rewind goes back to the start of the file, for looping.
func (r *Reader) Rewind() error {
	ts := int64(0)
	if st := r.fc.StartTime(); st != astiav.NoPtsValue {
		ts = st
	}
	if err := r.fc.SeekFrame(-1, ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return fmt.Errorf("rewinding %s: %w", r.info.Path, err)
	}
	return nil
}

// CodecParameters returns FFmpeg's parameters of stream s, for a caller
// that decodes it (the publisher measures audio levels). They stay valid
// until Close.
func (r *Reader) CodecParameters(s *Stream) *astiav.CodecParameters {
	return r.fc.Streams()[s.Index].CodecParameters()
}

// Close frees the demuxer. It may be called more than once.
func (r *Reader) Close() {
	if r.pkt != nil {
		r.pkt.Free()
		r.pkt = nil
	}
	if r.fc != nil {
		r.fc.CloseInput()
		r.fc.Free()
		r.fc = nil
	}
}
