package file

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/mediaclock"
)

// syncClip is what a sync clip promises (testdata/peers/peers.yaml).
type syncClip struct {
	file   string
	period time.Duration
}

var syncClips = []syncClip{{"sync-a.webm", time.Second}, {"sync-b.webm", 1300 * time.Millisecond}}

const (
	clipLength = 10 * time.Second
	beepLength = 60 * time.Millisecond
)

// instants are the flash and beep times of a clip: every period from the
// first period on.
func (c syncClip) instants() []time.Duration {
	var out []time.Duration
	for at := c.period; at+beepLength < clipLength; at += c.period {
		out = append(out, at)
	}
	return out
}

// beepCentres finds, around each instant, the energy centroid of the audio
// (sample i is at t0 + i/48 kHz). For a beep starting at the instant it is
// half the beep's length after it; a centroid is robust to the codec
// smearing the edges.
func beepCentres(samples []float32, t0 time.Duration, instants []time.Duration) []time.Duration {
	var out []time.Duration
	for _, at := range instants {
		from := int((at - 30*ms - t0).Seconds() * 48000)
		to := int((at + beepLength + 30*ms - t0).Seconds() * 48000)
		var sum, weighted float64
		for i := max(from, 0); i < min(to, len(samples)); i++ {
			e := float64(samples[i]) * float64(samples[i])
			sum += e
			weighted += e * float64(i)
		}
		if sum == 0 {
			out = append(out, -1)
			continue
		}
		out = append(out, t0+time.Duration(weighted/sum/48000*float64(time.Second)))
	}
	return out
}

// flashStarts returns the times of frames that are bright after a dark one.
func flashStarts(times []time.Duration, luma []float64) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(luma); i++ {
		if luma[i] > 180 && luma[i-1] < 180 {
			out = append(out, times[i])
		}
	}
	return out
}

// checkSync wants a flash at each instant and a beep centred half a beep
// after it, both within 1 ms.
func checkSync(t *testing.T, what string, c syncClip, flashes, centres []time.Duration) {
	t.Helper()
	want := c.instants()
	if len(flashes) != len(want) {
		t.Fatalf("%s: flashes at %v, want at %v", what, flashes, want)
	}
	for i, at := range want {
		if d := flashes[i] - at; d < -ms || d > ms {
			t.Errorf("%s: flash %d at %v, want %v", what, i, flashes[i], at)
		}
		if d := centres[i] - (at + beepLength/2); d < -ms || d > ms {
			t.Errorf("%s: beep %d centred at %v, want %v (beep start %v off)", what, i, centres[i], at+beepLength/2, d)
		}
	}
}

// TestSyncClipsWithFFmpeg checks the committed sync clips themselves with
// the ffmpeg and ffprobe tools: flashes and beeps at the nominal instants
// on the files' own timelines, Opus pre-skip taken into account.
func TestSyncClipsWithFFmpeg(t *testing.T) {
	for _, c := range syncClips {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(peersDir, c.file)
			// Luma per frame, with its presentation time.
			out := run(t, "ffprobe", "-v", "error", "-f", "lavfi", "-i", "movie="+path+",signalstats",
				"-show_entries", "frame=pts_time:frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0")
			var times []time.Duration
			var luma []float64
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, ",")
				if len(f) != 2 {
					t.Fatalf("ffprobe line %q", line)
				}
				ts, err1 := strconv.ParseFloat(f[0], 64)
				y, err2 := strconv.ParseFloat(f[1], 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("ffprobe line %q", line)
				}
				times = append(times, time.Duration(ts*float64(time.Second)))
				luma = append(luma, y)
			}
			if len(times) != 300 {
				t.Errorf("%d frames, want 300", len(times))
			}
			// The first decoded audio frame's time, then the samples.
			first := run(t, "ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "frame=pts_time",
				"-read_intervals", "%+#1", "-of", "csv=p=0", path)
			t0, err := strconv.ParseFloat(strings.TrimSpace(string(first)), 64)
			if err != nil {
				t.Fatalf("first audio frame time %q", first)
			}
			raw := run(t, "ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-ac", "1", "-f", "f32le", "-")
			samples := make([]float32, len(raw)/4)
			if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, samples); err != nil {
				t.Fatal(err)
			}
			if d := len(samples) - 48000*10; d < -960 || d > 960 {
				t.Errorf("%d audio samples, want ~480000", len(samples))
			}
			checkSync(t, c.file, c, flashStarts(times, luma), beepCentres(samples, time.Duration(t0*float64(time.Second)), c.instants()))
		})
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestSyncRoomLipSync runs the sync room and checks lip sync as the pipeline
// would see it: video and audio depacketized and decoded, and placed on the
// job clock through each track's sender reports. Flashes and beeps must
// coincide within 1 ms, so the RTP timestamps carry the files' sync exactly
// (Opus pre-skip included).
func TestSyncRoomLipSync(t *testing.T) {
	manifest := filepath.Join(roomsDir, "sync.yaml")
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	clock := mediaclock.NewVirtual()
	res := runRoom(t, manifest, clock, Options{}, 10*time.Second+13500*time.Microsecond, true)
	for i, c := range syncClips {
		id := "PA_" + strings.TrimSuffix(c.file, ".webm")
		t.Run(id, func(t *testing.T) {
			video, audio := res.tracks[id+"/video"], res.tracks[id+"/audio"]
			if video == nil || audio == nil {
				t.Fatalf("tracks %v", res.order)
			}
			vmap := srMapper{epoch: clock.Epoch(), sr: video.srs[0], rate: 90000}
			amap := srMapper{epoch: clock.Epoch(), sr: audio.srs[0], rate: 48000}
			var times []time.Duration
			var luma []float64
			decodeVideo(t, video, func(ts uint32, f *astiav.Frame) {
				times = append(times, vmap.at(ts))
				luma = append(luma, float64(cornerYUV(t, f)[0]))
			})
			samples, firstTS := decodeAudio(t, audio)
			// The RTP decoder knows no pre-skip: its first samples are the
			// encoder's pre-roll, stamped pre-skip before zero (the sync
			// clips' low-delay Opus has 120 samples, 2.5 ms, which the
			// WebM stores rounded to -3 ms).
			t0 := amap.at(firstTS)
			preSkip := m.Peers[i].Media.Audio.PreSkip
			if want := -time.Duration(preSkip) * time.Second / 48000; preSkip != 120 || t0-want < -time.Microsecond || t0-want > time.Microsecond {
				t.Errorf("first audio sample at %v, want %v (pre-skip %d)", t0, want, preSkip)
			}
			checkSync(t, id, syncClips[i], flashStarts(times, luma), beepCentres(samples, t0, c.instants()))
		})
	}
}
