package muxer

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
)

// TestRecordingAudioOnly records an audio-only encoder's stream as the
// worker does (encoder → fan-out → mp4 sink): an M4A with one AAC stream,
// cut into fragments by time alone (no keyframes to cut at), so that a file
// cut short still plays up to its last whole fragment.
func TestRecordingAudioOnly(t *testing.T) {
	const seconds = 5
	path := filepath.Join(t.TempDir(), "recording.m4a")
	var fan *Fanout
	enc, err := NewEncoder(EncoderConfig{AudioOnly: true}, PacketWriterFunc(func(p *output.Packet) { fan.WritePacket(p) }))
	if err != nil {
		t.Fatal(err)
	}
	fan = NewFanout(enc.Info(), nil)
	if err := fan.Add(context.Background(), "record", mp4.New(mp4.Options{Path: path}), QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
		t.Fatal(err)
	}
	src := mustSource(t, 64, 64, 30)
	for i := range seconds * 30 {
		if err := enc.WriteAudio(src.sine(1600), int64(i*1600)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fan.Close(ctx); err != nil {
		t.Fatal(err)
	}
	es := enc.Stats()
	if st := fan.States()["record"]; !st.Done || st.Err != nil || st.Dropped != 0 || st.Bytes != es.AudioBytes {
		t.Errorf("output state %+v, encoder produced %d bytes", st, es.AudioBytes)
	}

	pr := ffprobe(t, path, "-show_streams", "-show_format")
	if len(pr.Streams) != 1 {
		t.Fatalf("%d streams, want 1: %+v", len(pr.Streams), pr.Streams)
	}
	if a := pr.stream(t, "audio"); a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" || a.Channels != 2 {
		t.Errorf("audio stream %+v", a)
	}
	if d, err := strconv.ParseFloat(pr.Format.Duration, 64); err != nil || math.Abs(d-seconds) > 0.05 {
		t.Errorf("duration %q, want %d s", pr.Format.Duration, seconds)
	}
	if brand := probeTag(t, path, "major_brand"); brand != "M4A" && brand != "M4A " {
		t.Errorf("major brand %q, want M4A", brand)
	}
	if mean := meanVolume(t, path); mean < -12 || mean > -6 {
		t.Errorf("audio mean volume %.1f dB, want about -9", mean)
	}

	// About one fragment a second: the first 60 % of the file holds at
	// least two seconds of audio that decodes.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("moof")); n < seconds-1 {
		t.Errorf("%d fragments in %d s, want about one a second", n, seconds)
	}
	cut := filepath.Join(t.TempDir(), "cut.m4a")
	if err := os.WriteFile(cut, b[:len(b)*6/10], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", cut).Output()
	if err != nil {
		t.Fatalf("ffprobe of the cut file: %v", err)
	}
	if n, _ := strconv.Atoi(string(bytes.TrimSpace(out))); n < 2*48000/1024 {
		t.Errorf("the cut file plays %d AAC frames, want at least 2 s worth", n)
	}
}

func probeTag(t *testing.T, path, tag string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format_tags="+tag, "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return string(bytes.TrimSpace(out))
}
