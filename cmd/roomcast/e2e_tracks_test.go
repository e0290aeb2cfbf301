package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/worker"
)

// packetSizes lists the sizes of a file's packets of one kind (v or a).
func packetSizes(t *testing.T, path, kind string) []int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", kind+":0", "-show_entries", "packet=size",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	var sizes []int
	for _, l := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(strings.TrimSuffix(l, ",")); err == nil {
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// decodeClean decodes the whole file and fails on any error FFmpeg reports.
// The null output keeps the file's own time base: a live track is variable
// frame rate, which FFmpeg's default of 1/fps would round into collisions.
func decodeClean(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("decoding %s: %v %s", path, err, out)
	}
}

// --tracks writes each track as the room sent it, with its start offset,
// and tracks/room.yaml re-composes the meeting: recording that manifest
// gives the same tiles, pixel for pixel, as the live composite.
func TestRecordTracks(t *testing.T) {
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	dir := t.TempDir()
	manifest := filepath.Join(dir, "room.yaml")
	// VP8 + Opus (muted for a while), H.264 + Opus, a late joiner, VP9 +
	// Opus and AV1: 4 s.
	src := map[string]string{
		"alice": "alice.webm", "carol": "carol.mkv", "bob": "bob.webm", "vp9": "codec-vp9.webm", "av1": "codec-av1.webm",
	}
	y := "peers:\n" +
		"  - {name: alice, media: " + filepath.Join(peers, src["alice"]) + ", leave: 4s, muteVideo: [{from: 2.2s, to: 3s}]}\n" +
		"  - {name: carol, media: " + filepath.Join(peers, src["carol"]) + ", leave: 4s}\n" +
		"  - {name: bob, media: " + filepath.Join(peers, src["bob"]) + ", join: 1.5s, leave: 4s}\n" +
		"  - {name: vp9, media: " + filepath.Join(peers, src["vp9"]) + ", join: 500ms}\n" +
		"  - {name: av1, media: " + filepath.Join(peers, src["av1"]) + ", join: 1s}\n"
	if err := os.WriteFile(manifest, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live")
	// Without overlays: the active speaker, from the peers' steady tones,
	// may fall to another peer in the re-composition, and its border with
	// it; the tiles are what is compared.
	plain := filepath.Join(repoRoot(t), "testdata", "layouts", "grid-plain.json")
	_, stderr, code := runRoomcast(t, "record", "--room", "file:"+manifest, "--fast", "--tracks", "--record",
		"--resolution", "320x180", "--layout-file", plain, "--out", live)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, tail(stderr, 3000))
	}

	st := readStatus(t, live)
	type want struct {
		codec, probe string
		start        float64
		sizes        bool // the packets' bytes are the source's: compare sizes
	}
	wants := map[string]want{
		"PA_alice/video": {"video/VP8", "vp8", 0, true}, "PA_alice/audio": {"audio/opus", "opus", 0, true},
		"PA_carol/video": {"video/H264", "h264", 0, false}, "PA_carol/audio": {"audio/opus", "opus", 0, true},
		"PA_bob/video": {"video/VP8", "vp8", 1.5, true}, "PA_bob/audio": {"audio/opus", "opus", 1.5, true},
		"PA_vp9/video": {"video/VP9", "vp9", 0.5, true}, "PA_vp9/audio": {"audio/opus", "opus", 0.5, true},
		"PA_av1/video": {"video/AV1", "av1", 1, true},
	}
	if len(st.Tracks) != len(wants) {
		t.Fatalf("state lists %d track files, want %d: %+v", len(st.Tracks), len(wants), st.Tracks)
	}
	for _, f := range st.Tracks {
		w, ok := wants[f.TrackID]
		if !ok {
			t.Errorf("unexpected track file %+v", f)
			continue
		}
		if f.Codec != w.codec || !strings.HasPrefix(f.Path, "tracks/"+strings.TrimPrefix(f.PeerID, "PA_")+"-") {
			t.Errorf("%s: codec %s path %s, want %s and tracks/<peer>-...", f.TrackID, f.Codec, f.Path, w.codec)
		}
		// The offset is the job time of the first packet the room sent
		// (Opus pre-roll lies a few ms before the join).
		if math.Abs(f.StartOffsetSeconds-w.start) > 0.02 {
			t.Errorf("%s: start offset %.4f s, want %.1f s", f.TrackID, f.StartOffsetSeconds, w.start)
		}
		path := filepath.Join(live, f.Path)
		p := ffprobe(t, path)
		if len(p.Streams) != 1 || p.Streams[0].CodecName != w.probe {
			t.Errorf("%s: streams %+v, want one %s stream", f.Path, p.Streams, w.probe)
			continue
		}
		source := filepath.Join(peers, src[strings.TrimPrefix(f.PeerID, "PA_")])
		kind := "v"
		if f.Kind == "audio" {
			kind = "a"
		}
		if kind == "v" {
			sp := ffprobe(t, source, "-select_streams", "v:0")
			if sp.Streams[0].Width != p.Streams[0].Width || sp.Streams[0].Height != p.Streams[0].Height {
				t.Errorf("%s: %dx%d, the source is %dx%d", f.Path, p.Streams[0].Width, p.Streams[0].Height, sp.Streams[0].Width, sp.Streams[0].Height)
			}
		}
		got, all := packetSizes(t, path, kind), packetSizes(t, source, kind)
		// Every frame sent until the peer left (4 s, or the 2 s clip), but
		// for alice's muted 0.8 s; the packets until her mute are
		// compared.
		same, muted := len(got), 0.0
		if f.TrackID == "PA_alice/video" {
			same, muted = int(2.2*30), 0.8
		}
		if least := min(len(all), int((4-w.start-muted)*30)-3); kind == "v" && len(got) < least {
			t.Errorf("%s: %d frames, want at least %d", f.Path, len(got), least)
		}
		if kind == "a" && len(got) < min(len(all), int((4-w.start)*50))-3 {
			t.Errorf("%s: %d packets, want every 20 ms until the peer left", f.Path, len(got))
		}
		// No re-encode: the same packets, byte counts and all. (H.264 gets
		// its parameter sets in band, so only its frame count is checked.)
		if w.sizes && (len(got) > len(all) || same > len(got) || !slices.Equal(got[:same], all[:same])) {
			t.Errorf("%s: packet sizes differ from the source's %s", f.Path, source)
		}
		decodeClean(t, path)
	}

	var m struct {
		Peers []struct {
			Name, Join, Media, Audio string
			MuteVideo                []struct{ From, To string } `yaml:"muteVideo"`
		}
	}
	readYAML(t, filepath.Join(live, "tracks", "room.yaml"), &m)
	var names []string
	for _, p := range m.Peers {
		names = append(names, p.Name)
		if p.Name == "bob" && seconds(t, p.Join) != 1.5 {
			t.Errorf("bob joins the re-composition at %s, want 1.5s", p.Join)
		}
		if p.Name == "alice" && (len(p.MuteVideo) != 1 || math.Abs(seconds(t, p.MuteVideo[0].From)-2.2) > 0.05 || math.Abs(seconds(t, p.MuteVideo[0].To)-3) > 0.05) {
			t.Errorf("alice's mutes in the manifest: %+v, want 2.2s to 3s", p.MuteVideo)
		}
	}
	// Join order: the order of the live grid's tiles.
	if want := []string{"alice", "carol", "vp9", "av1", "bob"}; !slices.Equal(names, want) {
		t.Errorf("manifest peers %v, want %v", names, want)
	}

	again := filepath.Join(dir, "again")
	_, stderr, code = runRoomcast(t, "record", "--room", "file:"+filepath.Join(live, "tracks", "room.yaml"), "--fast", "--record",
		"--resolution", "320x180", "--layout-file", plain, "--out", again)
	if code != 0 {
		t.Fatalf("re-composition: exit %d: %s", code, tail(stderr, 3000))
	}
	for _, at := range []float64{0.7, 1.2, 1.8, 2.6, 3.5} {
		a := frameRGB(t, filepath.Join(live, "recording.mp4"), at, 320, 180)
		b := frameRGB(t, filepath.Join(again, "recording.mp4"), at, 320, 180)
		var sum int
		for i := range a {
			d := int(a[i]) - int(b[i])
			sum += max(d, -d)
		}
		if mad := float64(sum) / float64(len(a)); mad > 2 {
			t.Errorf("at %.1f s the re-composition differs from the live composite by %.2f on average, want the same tiles", at, mad)
		}
		// alice's camera shows but while it is muted, here and there.
		if red := colourShare(a, [3]int{255, 0, 0}, 60); (at > 2.2 && at < 3) != (red < 0.01) {
			t.Errorf("at %.1f s the live composite has %.1f%% of alice's red; her camera is muted 2.2-3 s", at, red*100)
		}
	}
}

// A job stopped mid-way by SIGTERM finalizes its track files (the WebM's
// duration and cues are written); one SIGKILLed leaves files that play up
// to about their last second. Either way the manifest lists every peer.
func TestRecordTracksStopped(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel() // real time, and light at 320x180
			out := t.TempDir()
			p := startRoomcast(t, cleanEnv(), "record", "--room", "file:testdata/rooms/demo.yaml", "--tracks",
				"--resolution", "320x180", "--out", out)
			var st worker.State
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				b, err := os.ReadFile(filepath.Join(out, "status.json"))
				if err == nil && json.Unmarshal(b, &st) == nil && len(st.Tracks) == 8 && st.Stats.Elapsed >= 3.5 {
					break
				}
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			p.wait(t, 20*time.Second)
			if len(st.Tracks) != 8 || st.Stats.Elapsed < 3.5 {
				t.Fatalf("status.json never showed 8 track files 3.5 s in: %+v\n%s", st, tail(p.stderr.String(), 2000))
			}
			if sig == syscall.SIGTERM {
				if code := p.exitCode(t); code != 0 {
					t.Errorf("exit %d after SIGTERM, want 0", code)
				}
				if st = readStatus(t, out); len(st.Tracks) != 8 || st.State != worker.Stopped {
					t.Fatalf("final state %s lists %d track files, want stopped and 8", st.State, len(st.Tracks))
				}
			}
			for _, f := range st.Tracks {
				path := filepath.Join(out, f.Path)
				decodeClean(t, path)
				pr := ffprobe(t, path)
				times := packetTimes(t, path)
				// Stopped 3.5 s or more in: what was sent by 2 s is in the
				// file (bob joined at 3 s, so his files may be short).
				if last := times[len(times)-1] + f.StartOffsetSeconds; len(pr.Streams) != 1 || f.PeerName != "bob" && last < 2 {
					t.Errorf("%s: plays to %.2f s of job time, want 2 s or more", f.Path, last)
				}
				if finalized := pr.Format.Duration != "" && pr.Format.Duration != "N/A"; sig == syscall.SIGTERM && !finalized {
					t.Errorf("%s: no duration after SIGTERM: not finalized", f.Path)
				}
			}
			var m struct{ Peers []struct{ Name string } }
			readYAML(t, filepath.Join(out, "tracks", "room.yaml"), &m)
			if len(m.Peers) != 4 {
				t.Errorf("the manifest left by the stopped job has %d peers, want 4", len(m.Peers))
			}
		})
	}
}

// packetTimes lists a file's packets' pts in seconds, whatever their kind.
func packetTimes(t *testing.T, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets of %s: %v", path, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64); err == nil {
			ts = append(ts, v)
		}
	}
	if len(ts) == 0 {
		t.Fatalf("%s has no packets", path)
	}
	return ts
}

// A live room's tracks: alice publishes before the recorder joins, bob
// joins 3 s in. Each track file starts where its first frame came (bob's
// about 3 s in), decodes cleanly, and the manifest re-composes the
// meeting with both tiles.
func TestLiveKitTracks(t *testing.T) {
	lk := startLiveKit(t)
	url := lk.URL("tracks")
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	publish(t, url, "alice", "--media", filepath.Join(peers, "alice.webm"), "--loop")
	time.Sleep(time.Second)
	out := t.TempDir()
	recStart := time.Now()
	rec := startRoomcast(t, lkEnv(), "record", "--room", url, "--tracks", "--record", "--resolution", "320x180", "--duration", "7s", "--out", out)
	time.Sleep(3 * time.Second)
	bobAt := time.Since(recStart).Seconds()
	publish(t, url, "bob", "--media", filepath.Join(peers, "bob.webm"), "--loop")
	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	starts := map[string]float64{}
	for _, f := range st.Tracks {
		if !strings.HasPrefix(f.Path, "tracks/"+f.PeerName+"-") || !strings.Contains(f.Path, "TR_") {
			t.Errorf("track file %s, want tracks/<peer>-<cam|mic>-<TR_...>", f.Path)
		}
		decodeClean(t, filepath.Join(out, f.Path))
		starts[f.PeerName+"/"+f.Kind] = f.StartOffsetSeconds
	}
	if len(st.Tracks) != 4 {
		t.Fatalf("state lists %d track files, want alice's and bob's audio and video: %+v", len(st.Tracks), st.Tracks)
	}
	for _, k := range []string{"bob/video", "bob/audio"} {
		// The job started after the process did, and bob's publisher
		// takes a moment to connect.
		// Up to 3 s after the command: bob's publisher connects (about 1 s
		// on a loaded machine) and the file starts at the first keyframe
		// the recorder receives (the clip has one a second, and the SFU
		// asks for one when it subscribes).
		if s := starts[k]; s < bobAt-1.5 || s > bobAt+3 {
			t.Errorf("%s starts at %.2f s of job time; bob published %.2f s after the command started", k, s, bobAt)
		}
	}
	again := filepath.Join(out, "again")
	_, stderr, code := runRoomcast(t, "record", "--room", "file:"+filepath.Join(out, "tracks", "room.yaml"), "--fast", "--record",
		"--resolution", "320x180", "--out", again)
	if code != 0 {
		t.Fatalf("re-composition: exit %d: %s", code, tail(stderr, 3000))
	}
	img := frameRGB(t, filepath.Join(again, "recording.mp4"), starts["bob/video"]+1.5, 320, 180)
	for name, rgb := range map[string][3]int{"alice": {255, 0, 0}, "bob": {0, 255, 0}} {
		if s := colourShare(img, rgb, 60); s < 0.02 {
			t.Errorf("the re-composition shows no %s tile (%.1f%% of its colour)", name, s*100)
		}
	}
}
