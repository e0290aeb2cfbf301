package muxer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/avpacket"
	"github.com/roomcast/roomcast/muxer/output"
)

func TestNewEncoderRejectsBadConfig(t *testing.T) {
	good := EncoderConfig{Width: 320, Height: 180, FPS: 30, VideoBitrate: 500_000}
	for _, tc := range []struct {
		name  string
		edit  func(*EncoderConfig)
		field string
	}{
		{"zero width", func(c *EncoderConfig) { c.Width = 0 }, "Width"},
		{"odd width", func(c *EncoderConfig) { c.Width = 321 }, "Width"},
		{"odd height", func(c *EncoderConfig) { c.Height = 181 }, "Height"},
		{"no fps", func(c *EncoderConfig) { c.FPS = 0 }, "FPS"},
		{"no video bitrate", func(c *EncoderConfig) { c.VideoBitrate = 0 }, "VideoBitrate"},
		{"negative audio bitrate", func(c *EncoderConfig) { c.AudioBitrate = -1 }, "AudioBitrate"},
		{"odd sample rate", func(c *EncoderConfig) { c.SampleRate = 47000 }, "SampleRate"},
		{"negative threads", func(c *EncoderConfig) { c.Threads = -2 }, "Threads"},
		{"unknown preset", func(c *EncoderConfig) { c.Preset = "warp-speed" }, "warp-speed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			e, err := NewEncoder(cfg, &collector{})
			if err == nil {
				e.Close()
				t.Fatal("NewEncoder accepted the config")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
	if _, err := NewEncoder(good, nil); err == nil {
		t.Error("NewEncoder accepted a nil PacketWriter")
	}
}

// TestEncoderStream checks the encoded stream packet by packet: the GOP grid,
// in-band parameter sets, timestamps, the x264 settings, and audio that
// decodes back to the tone that went in.
func TestEncoderStream(t *testing.T) {
	const (
		w, h, fps = 320, 180, 30
		frames    = 3 * fps
		bitrate   = 800_000
	)
	var c collector
	e, err := NewEncoder(EncoderConfig{Width: w, Height: h, FPS: fps, VideoBitrate: bitrate, Threads: 1}, &c)
	if err != nil {
		t.Fatal(err)
	}
	info := e.Info()
	if got := nalTypes(info.Video.Extradata); !contains(got, 7) || !contains(got, 8) {
		t.Errorf("video extradata NAL types %v, want SPS (7) and PPS (8) in Annex B", got)
	}
	// AudioSpecificConfig: object type 2 (LC), frequency index 3 (48 kHz),
	// channel configuration 2.
	if asc := info.Audio.Extradata; len(asc) < 2 || asc[0]>>3 != 2 || (asc[0]&7)<<1|asc[1]>>7 != 3 || (asc[1]>>3)&0xf != 2 {
		t.Errorf("AudioSpecificConfig %x is not AAC-LC 48 kHz stereo", asc)
	}
	if info.Video.TimeBase != (output.Rational{Num: 1, Den: fps}) || info.Audio.TimeBase != (output.Rational{Num: 1, Den: 48000}) {
		t.Errorf("time bases %v %v", info.Video.TimeBase, info.Audio.TimeBase)
	}

	src := mustSource(t, w, h, fps)
	// Irregular chunk sizes exercise the gathering into 1024-sample frames.
	chunks := []int{1600, 1, 2047, 480, 1024, 1600, 848}
	var apts int64
	for i := 0; i < frames; i++ {
		if err := e.WriteVideo(src.mustVideo(t, i), int64(i)); err != nil {
			t.Fatal(err)
		}
		for apts < int64(i+1)*48000/fps {
			n := chunks[(i+int(apts))%len(chunks)]
			if err := e.WriteAudio(src.sine(n), apts); err != nil {
				t.Fatal(err)
			}
			apts += int64(n)
		}
	}
	if err := e.WriteVideo(src.mustVideo(t, 0), frames-1); err == nil {
		t.Error("WriteVideo accepted a repeated pts")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	video := c.byKind(output.Video)
	if len(video) != frames {
		t.Fatalf("%d video packets, want %d", len(video), frames)
	}
	for i, p := range video {
		if p.PTS != int64(i) || p.DTS != p.PTS || p.Duration != 1 {
			t.Errorf("video packet %d: pts %d dts %d duration %d, want %d %d 1", i, p.PTS, p.DTS, p.Duration, i, i)
		}
		wantKey := i%(2*fps) == 0
		if p.Key != wantKey {
			t.Errorf("video packet %d: key %v, want %v", i, p.Key, wantKey)
		}
		types := nalTypes(p.Data)
		if wantKey {
			// SPS and PPS in band, ahead of the IDR slice.
			sps, pps, idr := index(types, 7), index(types, 8), index(types, 5)
			if sps < 0 || pps < 0 || idr < 0 || sps > idr || pps > idr {
				t.Errorf("keyframe %d NAL types %v, want SPS and PPS before the IDR", i, types)
			}
		} else if contains(types, 5) || contains(types, 7) {
			t.Errorf("frame %d NAL types %v: unexpected IDR or SPS", i, types)
		}
	}
	// x264 writes its settings into an SEI of the first frame.
	for _, want := range []string{"keyint=60", "scenecut=0", "bframes=0", "vbv_maxrate=800", "vbv_bufsize=1600", "rc_lookahead=0"} {
		if !bytes.Contains(video[0].Data, []byte(want)) {
			t.Errorf("x264 settings lack %q", want)
		}
	}

	audio := c.byKind(output.Audio)
	for i, p := range audio {
		if p.PTS != int64(i)*1024 || p.DTS != p.PTS || !p.Key {
			t.Fatalf("audio packet %d: pts %d dts %d key %v, want pts %d", i, p.PTS, p.DTS, p.Key, i*1024)
		}
	}
	if end := audio[len(audio)-1].PTS + audio[len(audio)-1].Duration; end < apts {
		t.Errorf("audio ends at %d, input ran to %d", end, apts)
	}
	st := e.Stats()
	if st.VideoFrames != frames || st.VideoPackets != frames || st.KeyFrames != 2 || st.AudioSamples != apts || st.AudioPackets != int64(len(audio)) {
		t.Errorf("stats %+v", st)
	}

	pcm := decodeAAC(t, info, audio)
	if len(pcm) < int(apts) {
		t.Fatalf("decoded %d samples, want at least %d", len(pcm), apts)
	}
	// Skip the encoder's priming and settle-in; measure level and pitch.
	body := pcm[4096 : apts-2048]
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
	if math.Abs(rms-0.5/math.Sqrt2) > 0.05 {
		t.Errorf("decoded RMS %.3f, want %.3f", rms, 0.5/math.Sqrt2)
	}
	if math.Abs(freq-440) > 5 {
		t.Errorf("decoded tone %.1f Hz, want 440", freq)
	}
}

// TestEncoderAudioTimeline checks how WriteAudio treats chunks that do not
// follow each other: gaps become silence, overlaps are cut, long gaps restart.
func TestEncoderAudioTimeline(t *testing.T) {
	for _, tc := range []struct {
		name        string
		second      int64 // pts of the second 4800-sample chunk; the first is at 0
		wantSamples int64
		wantJumpTo  int64 // an audio packet must start here (0: no jump)
	}{
		{"contiguous", 4800, 9600, 0},
		{"gap filled with silence", 9600, 14400, 0},
		{"overlap trimmed", 3800, 8600, 0},
		// The pending frame is completed with 320 samples of silence. Output
		// time is input time: the priming packet is dropped, not shifted.
		{"long gap restarts", 4800 + 3*48000, 9600 + 320, 4800 + 3*48000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c collector
			e, err := NewEncoder(EncoderConfig{Width: 64, Height: 64, FPS: 30, VideoBitrate: 100_000}, &c)
			if err != nil {
				t.Fatal(err)
			}
			src := mustSource(t, 64, 64, 30)
			if err := e.WriteAudio(src.sine(4800), 0); err != nil {
				t.Fatal(err)
			}
			if err := e.WriteAudio(src.sine(4800), tc.second); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if got := e.Stats().AudioSamples; got != tc.wantSamples {
				t.Errorf("AudioSamples %d, want %d", got, tc.wantSamples)
			}
			audio := c.byKind(output.Audio)
			jumped := false
			for i := 1; i < len(audio); i++ {
				prev, p := audio[i-1], audio[i]
				if p.PTS == prev.PTS+1024 {
					continue
				}
				if tc.wantJumpTo == 0 || p.PTS != tc.wantJumpTo || jumped {
					t.Errorf("audio packet %d at %d after %d", i, p.PTS, prev.PTS)
				}
				jumped = true
			}
			if tc.wantJumpTo != 0 && !jumped {
				t.Errorf("no audio packet starts at %d", tc.wantJumpTo)
			}
		})
	}
}

func index(xs []int, v int) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

// decodeAAC decodes packets with FFmpeg's AAC decoder and returns the left
// channel.
func decodeAAC(t *testing.T, info output.StreamInfo, pkts []*output.Packet) []float32 {
	t.Helper()
	codec := astiav.FindDecoder(astiav.CodecIDAac)
	cc := astiav.AllocCodecContext(codec)
	defer cc.Free()
	cc.SetSampleRate(info.Audio.SampleRate)
	cc.SetChannelLayout(astiav.ChannelLayoutStereo)
	if err := cc.SetExtraData(info.Audio.Extradata); err != nil {
		t.Fatal(err)
	}
	if err := cc.Open(codec, nil); err != nil {
		t.Fatal(err)
	}
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	frame := astiav.AllocFrame()
	defer frame.Free()
	var out []float32
	var scratch []byte
	receive := func() {
		for {
			err := cc.ReceiveFrame(frame)
			if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if frame.SampleFormat() != astiav.SampleFormatFltp {
				t.Fatalf("decoder gives %s", frame.SampleFormat())
			}
			planes, err := avframe.AudioPlanes(frame, 2)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+4 <= len(planes[0]); i += 4 {
				out = append(out, math.Float32frombits(binary.NativeEndian.Uint32(planes[0][i:])))
			}
			frame.Unref()
		}
	}
	for _, p := range pkts {
		var err error
		if scratch, err = avpacket.SetData(pkt, p.Data, scratch); err != nil {
			t.Fatal(err)
		}
		pkt.SetPts(p.PTS)
		if err := cc.SendPacket(pkt); err != nil {
			t.Fatal(err)
		}
		pkt.Unref()
		receive()
	}
	if err := cc.SendPacket(nil); err != nil {
		t.Fatal(err)
	}
	receive()
	return out
}

// BenchmarkEncodeVideo720p measures libx264 at the default settings on a
// moving 720p pattern: run with -bench EncodeVideo -benchtime 150x.
func BenchmarkEncodeVideo720p(b *testing.B) {
	var c collector
	e, err := NewEncoder(EncoderConfig{Width: 1280, Height: 720, FPS: 30, VideoBitrate: 2_500_000}, &c)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	src := mustSource(b, 1280, 720, 30)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.WriteVideo(src.mustVideo(b, i), int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fps")
}
