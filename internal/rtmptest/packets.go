package rtmptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/roomcast/roomcast/muxer/output"
)

// Source is a few seconds of encoded media shaped like the muxer's output.
type Source struct {
	Info    output.StreamInfo
	Packets []*output.Packet // interleaved by time, video first on ties
}

// Encode has the ffmpeg CLI encode seconds of testsrc2 + a sine the way the
// job's encoder does (libx264 zerolatency, SPS/PPS repeated before every
// IDR, GOP of 2 s; AAC-LC 48 kHz stereo) and turns the result into
// muxer.Packets. It stands in for muxer.Encoder, which is written elsewhere.
func Encode(t testing.TB, seconds, width, height, fps int) *Source {
	t.Helper()
	return EncodeBitrate(t, seconds, width, height, fps, 600)
}

// EncodeBitrate is Encode at a video bitrate in kbit/s (for measurements
// at realistic sizes).
func EncodeBitrate(t testing.TB, seconds, width, height, fps, kbps int) *Source {
	t.Helper()
	bin := NeedBinary(t, "ffmpeg")
	dir := t.TempDir()
	vfile, afile := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.aac")
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		// -t as an input option bounds both outputs.
		"-t", strconv.Itoa(seconds), "-f", "lavfi",
		"-i", "testsrc2=size=" + strconv.Itoa(width) + "x" + strconv.Itoa(height) + ":rate=" + strconv.Itoa(fps),
		"-t", strconv.Itoa(seconds), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
		"-pix_fmt", "yuv420p", "-g", strconv.Itoa(2 * fps), "-b:v", strconv.Itoa(kbps) + "k",
		"-maxrate", strconv.Itoa(kbps) + "k", "-bufsize", strconv.Itoa(2*kbps) + "k",
		"-x264-params", "repeat-headers=1", "-f", "h264", vfile,
		"-map", "1:a", "-c:a", "aac", "-ac", "2", "-b:a", "96k", "-f", "adts", afile,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = dieWithParent()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg encode: %v\n%s", err, out)
	}
	vdata, err := os.ReadFile(vfile)
	if err != nil {
		t.Fatal(err)
	}
	adata, err := os.ReadFile(afile)
	if err != nil {
		t.Fatal(err)
	}

	src := &Source{}
	src.Info.Video = output.VideoInfo{Width: width, Height: height, FPS: fps,
		TimeBase: output.Rational{Num: 1, Den: fps}, Bitrate: kbps * 1000}
	aus, err := splitAccessUnits(vdata)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus {
		if i == 0 {
			src.Info.Video.Extradata = paramSetsAnnexB(au.nalus)
		}
		src.Packets = append(src.Packets, &output.Packet{Kind: output.Video,
			PTS: int64(i), DTS: int64(i), Duration: 1, Key: au.key, Data: au.data})
	}
	if len(src.Info.Video.Extradata) == 0 {
		t.Fatal("first access unit has no SPS/PPS")
	}

	var adts mpeg4audio.ADTSPackets
	if err := adts.Unmarshal(adata); err != nil {
		t.Fatalf("parse ADTS: %v", err)
	}
	if len(adts) == 0 {
		t.Fatal("no AAC frames")
	}
	asc, err := mpeg4audio.AudioSpecificConfig{Type: adts[0].Type, SampleRate: adts[0].SampleRate,
		ChannelCount: adts[0].ChannelCount}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	src.Info.Audio = output.AudioInfo{SampleRate: adts[0].SampleRate, Channels: adts[0].ChannelCount,
		TimeBase: output.Rational{Num: 1, Den: adts[0].SampleRate}, Bitrate: 96_000, Extradata: asc}
	for i, f := range adts {
		src.Packets = append(src.Packets, &output.Packet{Kind: output.Audio,
			PTS: int64(i) * 1024, DTS: int64(i) * 1024, Duration: 1024, Key: true, Data: f.AU})
	}
	sort.SliceStable(src.Packets, func(i, j int) bool {
		return src.Packets[i].Time(&src.Info) < src.Packets[j].Time(&src.Info)
	})
	return src
}

type accessUnit struct {
	data  []byte // Annex-B
	nalus h264.AnnexB
	key   bool
}

// splitAccessUnits cuts an Annex-B elementary stream into access units: a
// new one starts at an SPS/PPS/SEI/AUD, or at a slice whose first_mb_in_slice
// is 0, once the current unit already holds a slice. mediacommon parses the
// whole stream as one Annex-B unit, which bounds it to h264.MaxAccessUnitSize
// (8 MiB: over a minute at the bitrates tests use).
func splitAccessUnits(es []byte) ([]accessUnit, error) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(es); err != nil {
		return nil, fmt.Errorf("parse the H.264 stream (%d bytes): %w", len(es), err)
	}
	var aus []accessUnit
	hasSlice := false
	for _, n := range nalus {
		typ := h264.NALUType(n[0] & 0x1f)
		isSlice := typ == h264.NALUTypeNonIDR || typ == h264.NALUTypeIDR
		switch typ {
		case h264.NALUTypeSEI, h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeAccessUnitDelimiter:
			if hasSlice {
				hasSlice = false
				aus = append(aus, accessUnit{})
			}
		default:
			if isSlice && hasSlice && len(n) > 1 && n[1]&0x80 != 0 {
				hasSlice = false
				aus = append(aus, accessUnit{})
			}
		}
		if len(aus) == 0 {
			aus = append(aus, accessUnit{})
		}
		au := &aus[len(aus)-1]
		au.nalus = append(au.nalus, n)
		hasSlice = hasSlice || isSlice
		au.key = au.key || typ == h264.NALUTypeIDR
	}
	for i := range aus {
		aus[i].data, _ = aus[i].nalus.Marshal() // never fails
	}
	if len(aus) == 0 {
		return nil, errors.New("no H.264 access units")
	}
	return aus, nil
}

// paramSetsAnnexB returns the SPS and PPS of an access unit as Annex B, as
// libx264 puts them in its extradata.
func paramSetsAnnexB(au h264.AnnexB) []byte {
	var ps h264.AnnexB
	for _, n := range au {
		if t := h264.NALUType(n[0] & 0x1f); t == h264.NALUTypeSPS || t == h264.NALUTypePPS {
			ps = append(ps, n)
		}
	}
	b, _ := ps.Marshal() // never fails
	return b
}
