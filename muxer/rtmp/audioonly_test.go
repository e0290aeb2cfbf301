package rtmp

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/muxer/output"
)

// audioOnly returns src's audio alone, as an audio-only job's encoder
// gives it: no video stream in the info, no video packet.
func audioOnly(src *rtmptest.Source) *rtmptest.Source {
	out := &rtmptest.Source{Info: output.StreamInfo{Audio: src.Info.Audio}}
	for _, p := range src.Packets {
		if p.Kind == output.Audio {
			out.Packets = append(out.Packets, p)
		}
	}
	return out
}

// TestPublishAudioOnly publishes an FLV stream with an AAC track alone to
// nginx-rtmp in real time: a player reading the relayed stream (ffprobe)
// finds exactly one stream, AAC, and nginx's own recording of it is the
// whole stream, audio only.
func TestPublishAudioOnly(t *testing.T) {
	t.Parallel()
	const seconds = 7
	src := audioOnly(rtmptest.Encode(t, seconds, testW, testH, testFPS))
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey)
	s, _ := newSink(t, url, nil)
	states := newStateLog(t)
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatalf("Open: %v", err)
	}
	fed := make(chan error, 1)
	go func() { fed <- feed(t, s, src, 0, time.Hour, true) }()

	time.Sleep(500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, rtmptest.NeedBinary(t, "ffprobe"), "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,sample_rate,channels", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe of the relayed stream: %v", err)
	}
	var relayed struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &relayed); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	if len(relayed.Streams) != 1 || relayed.Streams[0].CodecType != "audio" || relayed.Streams[0].CodecName != "aac" ||
		relayed.Streams[0].SampleRate != "48000" || relayed.Streams[0].Channels != 2 {
		t.Errorf("the relayed stream has %+v, want one AAC 48 kHz stereo stream", relayed.Streams)
	}

	if err := <-fed; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, st := range states.all() {
		if st.Err != nil {
			t.Errorf("error reported during a clean publish: %v", st.Err)
		}
	}
	ng.WaitPublishesEnded(1, 5*time.Second)
	ng.Stop()
	recs := ng.Recordings()
	if len(recs) != 1 {
		t.Fatalf("recordings: %v", recs)
	}
	p := rtmptest.ProbeFile(t, recs[0])
	if len(p.Streams) != 1 {
		t.Errorf("nginx's recording has %d streams, want 1: %+v", len(p.Streams), p.Streams)
	}
	if codec, _, _, ok := p.Stream("audio"); !ok || codec != "aac" {
		t.Errorf("nginx's recording: audio %q (present %v), want aac", codec, ok)
	}
	if d := p.Duration(); math.Abs(d-seconds) > 0.5 {
		t.Errorf("nginx's recording lasts %.2fs, want %d s", d, seconds)
	}
}
