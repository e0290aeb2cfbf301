package hls

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/roomcast/roomcast/muxer/output"
)

// defaultSegmentDuration matches the encoder's 2 s GOP.
const defaultSegmentDuration = 2 * time.Second

// minSegmentDuration is the shortest segment a muxer may cut for a target of
// d. Both muxers cut at the first keyframe at least this far from the
// segment's start; comparing against exactly d would skip a keyframe that
// lands a rounding error short of it (FFmpeg compares against a start taken
// from whichever stream came first) and make a 4 s segment. 90 % of d still
// cuts at every keyframe of a GOP of d, and never between two of them.
func minSegmentDuration(d time.Duration) time.Duration {
	return d - d/10
}

// splitParameterSets returns the SPS and PPS in Annex-B extradata.
func splitParameterSets(extradata []byte) (sps, pps []byte, err error) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(extradata); err != nil {
		return nil, nil, fmt.Errorf("parse H.264 extradata: %w", err)
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = n
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = n
			}
		}
	}
	if sps == nil || pps == nil {
		return nil, nil, errors.New("H.264 extradata has no SPS or no PPS")
	}
	return sps, pps, nil
}

// checkInfo rejects stream descriptions the sinks cannot package. A zero
// video (an audio-only job) is fine: the sinks then package the audio alone.
func checkInfo(info *output.StreamInfo) (mpeg4audio.AudioSpecificConfig, error) {
	var asc mpeg4audio.AudioSpecificConfig
	v, a := info.Video, info.Audio
	if info.HasVideo() && v.Height <= 0 {
		return asc, fmt.Errorf("video size %dx%d", v.Width, v.Height)
	}
	if info.HasVideo() && (v.TimeBase.Num <= 0 || v.TimeBase.Den <= 0) {
		return asc, fmt.Errorf("video time base %d/%d", v.TimeBase.Num, v.TimeBase.Den)
	}
	if a.TimeBase.Num <= 0 || a.TimeBase.Den <= 0 {
		return asc, fmt.Errorf("audio time base %d/%d", a.TimeBase.Num, a.TimeBase.Den)
	}
	if err := asc.Unmarshal(a.Extradata); err != nil {
		return asc, fmt.Errorf("parse AudioSpecificConfig: %w", err)
	}
	if asc.SampleRate <= 0 {
		return asc, fmt.Errorf("audio sample rate %d", asc.SampleRate)
	}
	return asc, nil
}

// rescale converts ts from time base tb to a clock of rate ticks per second,
// rounding down. It goes through big.Int only when the product would
// overflow, which a job of any realistic length never reaches.
func rescale(ts int64, tb output.Rational, rate int64) int64 {
	num := int64(tb.Num) * rate
	den := int64(tb.Den)
	if num%den == 0 { // the common case: 1/30 -> 90 kHz, 1/48000 -> 48 kHz
		return ts * (num / den)
	}
	hi, lo := ts/den, ts%den
	if abs(hi) < (1<<62)/num && abs(lo) < (1<<62)/num {
		return hi*num + floorDiv(lo*num, den)
	}
	r := new(big.Int).Mul(big.NewInt(ts), big.NewInt(num))
	r.Div(r, big.NewInt(den)) // Euclidean: floors for a positive divisor
	return r.Int64()
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// nopReporter stands in for a nil Reporter.
type nopReporter struct{}

func (nopReporter) Report(output.SinkState) {}
