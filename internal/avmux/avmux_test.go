package avmux_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/avmux"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/output"
)

func TestMain(m *testing.M) {
	// libx264 prints its statistics at info level on every close.
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}

const (
	width, height, fps = 320, 240, 30
	seconds            = 2
	sampleRate         = 48000
)

// encode makes seconds of H.264 and AAC with the muxer's real encoder.
func encode(t *testing.T) (output.StreamInfo, []*output.Packet) {
	t.Helper()
	var pkts []*output.Packet
	enc, err := muxer.NewEncoder(muxer.EncoderConfig{Width: width, Height: height, FPS: fps, VideoBitrate: 500_000, Threads: 1},
		muxer.PacketWriterFunc(func(p *output.Packet) { pkts = append(pkts, p) }))
	if err != nil {
		t.Fatal(err)
	}
	f := astiav.AllocFrame()
	defer f.Free()
	f.SetWidth(width)
	f.SetHeight(height)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	samples := make([]float32, 2*sampleRate/fps)
	for i := range seconds * fps {
		if err := avframe.Fill(f, 0, 0, width, height, byte(16+i*3), 128, 128); err != nil {
			t.Fatal(err)
		}
		if err := enc.WriteVideo(f, int64(i)); err != nil {
			t.Fatal(err)
		}
		for k := range len(samples) / 2 {
			v := float32(0.3 * math.Sin(2*math.Pi*440*float64(i*len(samples)/2+k)/sampleRate))
			samples[2*k], samples[2*k+1] = v, v
		}
		if err := enc.WriteAudio(samples, int64(i*len(samples)/2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return enc.Info(), pkts
}

type probe struct {
	Streams []struct {
		CodecName     string `json:"codec_name"`
		Width         int    `json:"width"`
		Height        int    `json:"height"`
		SampleRate    string `json:"sample_rate"`
		Channels      int    `json:"channels"`
		NbReadPackets string `json:"nb_read_packets"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func TestOutput(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed")
	}
	info, pkts := encode(t)
	var nv, na int
	for _, p := range pkts {
		if p.Kind == output.Video {
			nv++
		} else {
			na++
		}
	}
	for _, tc := range []struct{ format, name string }{
		{"mp4", "out.mp4"},
		{"mpegts", "out.ts"},
		{"matroska", "out.mkv"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name)
			write(t, tc.format, path, info, pkts)

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
			if len(pr.Streams) != 2 {
				t.Fatalf("%d streams, want 2: %s", len(pr.Streams), out)
			}
			v, a := pr.Streams[0], pr.Streams[1]
			if v.CodecName != "h264" || v.Width != width || v.Height != height || v.NbReadPackets != strconv.Itoa(nv) {
				t.Errorf("video stream %+v, want h264 %dx%d with %d packets", v, width, height, nv)
			}
			if a.CodecName != "aac" || a.SampleRate != "48000" || a.Channels != 2 || a.NbReadPackets != strconv.Itoa(na) {
				t.Errorf("audio stream %+v, want aac 48000 Hz stereo with %d packets", a, na)
			}
			if d, err := strconv.ParseFloat(pr.Format.Duration, 64); err != nil || math.Abs(d-seconds) > 0.1 {
				t.Errorf("duration %s, want %d s", pr.Format.Duration, seconds)
			}
		})
	}
}

func write(t *testing.T, format, path string, info output.StreamInfo, pkts []*output.Packet) {
	t.Helper()
	fc, err := astiav.AllocOutputFormatContext(nil, format, path)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Free()
	o, err := avmux.New(fc, info)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Free()
	pb, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		t.Fatal(err)
	}
	fc.SetPb(pb)
	if err := fc.WriteHeader(nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := o.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := fc.WriteTrailer(); err != nil {
		t.Fatal(err)
	}
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsChannels(t *testing.T) {
	fc, err := astiav.AllocOutputFormatContext(nil, "mp4", "x.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Free()
	info := output.StreamInfo{
		Video: output.VideoInfo{Width: width, Height: height, FPS: fps, TimeBase: output.Rational{Num: 1, Den: fps}},
		Audio: output.AudioInfo{SampleRate: sampleRate, Channels: 6, TimeBase: output.Rational{Num: 1, Den: sampleRate}},
	}
	if _, err := avmux.New(fc, info); err == nil || !strings.Contains(err.Error(), "6 audio channels") {
		t.Fatalf("6 channels: %v", err)
	}
}

func TestUnusedOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  [][2]string
		want string // "" means no error
	}{
		{"none", nil, ""},
		{"left", [][2]string{{"movflags", "faststart"}, {"bogus", "1"}}, "options not recognized: movflags=faststart, bogus=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := astiav.NewDictionary()
			defer d.Free()
			for _, kv := range tc.set {
				if err := d.Set(kv[0], kv[1], 0); err != nil {
					t.Fatal(err)
				}
			}
			err := avmux.UnusedOptions(d)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// BenchmarkWrite is the per-packet path of the MP4 and HLS recordings.
func BenchmarkWrite(b *testing.B) {
	t := &testing.T{}
	info, pkts := encode(t)
	if t.Failed() {
		b.Fatal("encoding failed")
	}
	path := filepath.Join(b.TempDir(), "bench.ts")
	fc, err := astiav.AllocOutputFormatContext(nil, "mpegts", path)
	if err != nil {
		b.Fatal(err)
	}
	defer fc.Free()
	o, err := avmux.New(fc, info)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Free()
	pb, err := astiav.OpenIOContext(path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite))
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Close()
	fc.SetPb(pb)
	if err := fc.WriteHeader(nil); err != nil {
		b.Fatal(err)
	}
	vlen, alen := int64(seconds*fps), int64(seconds*sampleRate+4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Replay the packets, shifted by a whole recording per round so
		// that timestamps keep increasing.
		round := int64(i / len(pkts))
		q := *pkts[i%len(pkts)]
		shift := round * vlen
		if q.Kind == output.Audio {
			shift = round * alen
		}
		q.PTS += shift
		q.DTS += shift
		if err := o.Write(&q); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
