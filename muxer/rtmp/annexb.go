package rtmp

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// splitAnnexB splits an Annex-B access unit into its NAL units exactly as
// mediacommon's h264.AnnexB.Unmarshal does (FuzzSplitAnnexB holds the two
// together), but into out's array: Unmarshal allocates a new slice on every
// call, and this runs for every video packet of every RTMP output. It also
// finds start codes with bytes.Index rather than byte by byte, which
// BenchmarkSplitAnnexB measures at several times faster.
//
// Unlike Unmarshal it requires the access unit to start with a start code:
// Unmarshal's check for one also passes any buffer whose third byte is 1.
func splitAnnexB(buf []byte, out h264.AnnexB) (h264.AnnexB, error) {
	out = out[:0]
	if len(buf) < 4 || buf[0] != 0 || buf[1] != 0 || (buf[2] != 1 && (buf[2] != 0 || buf[3] != 1)) {
		return out, h264.ErrAnnexBNoInitialDelimiter
	}
	start, size := 0, 0
	for i := 0; ; {
		p := bytes.Index(buf[i:], startCode)
		if p < 0 {
			break
		}
		p += i
		// A zero of the unit just before 00 00 01 belongs to a four-byte
		// start code.
		end := p
		if end > start && buf[end-1] == 0 {
			end--
		}
		if end > start {
			out = append(out, buf[start:end])
			size += end - start
		}
		i = p + len(startCode)
		start = i
	}
	if start < len(buf) {
		out = append(out, buf[start:])
		size += len(buf) - start
	}
	if size > h264.MaxAccessUnitSize {
		return out[:0], fmt.Errorf("access unit size (%d) is too big, maximum is %d", size, h264.MaxAccessUnitSize)
	}
	if len(out) == 0 {
		return out, h264.ErrAnnexBNoNALUs
	}
	return out, nil
}

var startCode = []byte{0, 0, 1}
