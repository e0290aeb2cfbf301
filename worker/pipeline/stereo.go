package pipeline

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
)

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
