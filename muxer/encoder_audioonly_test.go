package muxer

import (
	"math"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/muxer/output"
)

// TestEncoderAudioOnly opens an audio-only encoder with no video settings
// at all, and checks that it describes no video stream, refuses video,
// and encodes audio that decodes back to the tone that went in.
func TestEncoderAudioOnly(t *testing.T) {
	var c collector
	e, err := NewEncoder(EncoderConfig{AudioOnly: true}, &c)
	if err != nil {
		t.Fatal(err)
	}
	info := e.Info()
	if info.HasVideo() || info.Video.TimeBase != (output.Rational{}) || len(info.Video.Extradata) != 0 {
		t.Errorf("audio-only info describes video: %+v", info.Video)
	}
	if info.Audio.SampleRate != 48000 || info.Audio.Channels != 2 || len(info.Audio.Extradata) < 2 {
		t.Errorf("audio info %+v", info.Audio)
	}
	src := mustSource(t, 64, 64, 30)
	if err := e.WriteVideo(src.mustVideo(t, 0), 0); err == nil || !strings.Contains(err.Error(), "audio-only") {
		t.Errorf("WriteVideo on an audio-only encoder: %v", err)
	}
	const chunk, chunks = 1600, 90 // 3 s in the compositor's 30 Hz ticks
	for i := range chunks {
		if err := e.WriteAudio(src.sine(chunk), int64(i*chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if v := c.byKind(output.Video); len(v) != 0 {
		t.Errorf("%d video packets", len(v))
	}
	audio := c.byKind(output.Audio)
	for i, p := range audio {
		if p.PTS != int64(i)*1024 || !p.Key {
			t.Fatalf("audio packet %d: pts %d key %v, want pts %d", i, p.PTS, p.Key, i*1024)
		}
	}
	st := e.Stats()
	if st.VideoFrames != 0 || st.VideoBytes != 0 || st.AudioSamples != chunk*chunks || st.AudioPackets != int64(len(audio)) {
		t.Errorf("stats %+v", st)
	}
	pcm := decodeAAC(t, info, audio)
	if len(pcm) < chunk*chunks {
		t.Fatalf("decoded %d samples, want %d", len(pcm), chunk*chunks)
	}
	body := pcm[4096 : chunk*chunks-2048]
	var sum float64
	crossings := 0
	for i, v := range body {
		sum += float64(v) * float64(v)
		if i > 0 && (body[i-1] < 0) != (v < 0) {
			crossings++
		}
	}
	rms := math.Sqrt(sum / float64(len(body)))
	freq := float64(crossings) / 2 / (float64(len(body)) / 48000)
	if math.Abs(rms-0.5/math.Sqrt2) > 0.05 || math.Abs(freq-440) > 5 {
		t.Errorf("decoded %.3f RMS at %.1f Hz, want %.3f at 440 Hz", rms, freq, 0.5/math.Sqrt2)
	}
}
