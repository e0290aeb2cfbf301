package avmux_test

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer/output"
)

// TestOutputAudioOnly muxes an audio-only stream info: the file gets the
// AAC stream alone, with every packet, and a video packet is refused.
func TestOutputAudioOnly(t *testing.T) {
	full, pkts := encode(t)
	info := output.StreamInfo{Audio: full.Audio}
	var audio []*output.Packet
	for _, p := range pkts {
		if p.Kind == output.Audio {
			audio = append(audio, p)
		}
	}
	for _, tc := range []struct{ format, name string }{
		{"ipod", "out.m4a"},
		{"mp4", "out.mp4"},
		{"mpegts", "out.ts"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			write(t, tc.format, path, info, audio)
			out, err := exec.Command("ffprobe", "-v", "error", "-count_packets",
				"-show_entries", "stream=codec_name,width,height,sample_rate,channels,nb_read_packets:format=duration",
				"-of", "json", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			var pr probe
			if err := json.Unmarshal(out, &pr); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, out)
			}
			if len(pr.Streams) != 1 {
				t.Fatalf("%d streams, want 1: %s", len(pr.Streams), out)
			}
			if a := pr.Streams[0]; a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 2 || a.NbReadPackets != strconv.Itoa(len(audio)) {
				t.Errorf("stream %+v, want aac 48000 Hz stereo with %d packets", a, len(audio))
			}
			if d, err := strconv.ParseFloat(pr.Format.Duration, 64); err != nil || math.Abs(d-seconds) > 0.1 {
				t.Errorf("duration %s, want %d s", pr.Format.Duration, seconds)
			}
		})
	}

	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", "x.m4a")
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Free()
	o, err := avmux.New(fc, info)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Free()
	if n := fc.NbStreams(); n != 1 {
		t.Errorf("%d streams in the format context, want 1", n)
	}
	if err := o.Write(&output.Packet{Kind: output.Video, Key: true, Data: []byte{0, 0, 0, 1, 0x65}}); err == nil || !strings.Contains(err.Error(), "no video stream") {
		t.Errorf("a video packet on an audio-only output: %v", err)
	}
}
