package hls

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// audioOnlyInfo is the test clip's stream info as an audio-only job's
// encoder gives it: no video stream.
func audioOnlyInfo() output.StreamInfo { return output.StreamInfo{Audio: testClip.info.Audio} }

// feedAudio writes the clip's audio alone, looping, up to media time d, at
// speed times real time (0: as fast as possible).
func feedAudio(ctx context.Context, s output.Sink, d time.Duration, speed float64) error {
	info := audioOnlyInfo()
	start := time.Now()
	loop := int64(len(testClip.audio)) * aacFrameSize
	for i := int64(0); ; i++ {
		p := testClip.audio[i%int64(len(testClip.audio))]
		p.PTS += i / int64(len(testClip.audio)) * loop
		p.DTS = p.PTS
		t := p.Time(&info)
		if t >= d {
			return nil
		}
		if speed > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(start.Add(time.Duration(float64(t) / speed)))):
			}
		}
		if err := s.Write(ctx, &p); err != nil {
			return err
		}
	}
}

// streamsOf lists what ffprobe finds in a file or URL, as type/codec.
func streamsOf(t *testing.T, what string) string {
	t.Helper()
	out := ffprobe(t, 30*time.Second, "-show_entries", "stream=codec_type,codec_name", "-of", "json", what)
	var p probeFormat
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", what, err, out)
	}
	var kinds []string
	for _, s := range p.Streams {
		kinds = append(kinds, s.CodecType+"/"+s.CodecName)
	}
	return strings.Join(kinds, ",")
}

// TestRecorderAudioOnly records an audio-only stream: 2 s segments cut by
// time, every segment and the whole playlist holding one AAC stream.
func TestRecorderAudioOnly(t *testing.T) {
	t.Parallel()
	const fed = 9 * time.Second
	dir := filepath.Join(t.TempDir(), "hls")
	rec := NewRecorder(RecordOptions{Dir: dir})
	ctx := context.Background()
	if err := rec.Open(ctx, audioOnlyInfo(), nil); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := feedAudio(ctx, rec, fed, 0); err != nil {
		t.Fatalf("feed: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pl := readFile(t, rec.Path())
	t.Logf("index.m3u8:\n%s", pl)
	if !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") {
		t.Errorf("final playlist is not a finished VOD playlist")
	}
	uris, durs := playlistSegments(t, pl)
	if len(uris) != 5 {
		t.Errorf("%d segments for %v, want 5", len(uris), fed)
	}
	for i, d := range durs {
		if i < len(durs)-1 && (d < 1.97 || d > 2.03) {
			t.Errorf("segment %s lasts %.3f s, want 2", uris[i], d)
		}
	}
	for _, u := range uris {
		if got := streamsOf(t, filepath.Join(dir, u)); got != "audio/aac" {
			t.Errorf("segment %s has streams %s, want audio/aac alone", u, got)
		}
	}
	if got := streamsOf(t, rec.Path()); got != "audio/aac" {
		t.Errorf("playlist has streams %s, want audio/aac alone", got)
	}
	out := ffprobe(t, 30*time.Second, "-show_entries", "format=duration", "-of", "csv=p=0", rec.Path())
	if d, err := strconv.ParseFloat(strings.TrimSpace(out), 64); err != nil || d < fed.Seconds()-0.2 || d > fed.Seconds()+0.2 {
		t.Errorf("ffprobe duration %q, want %v", out, fed)
	}
}

// TestLiveAudioOnly serves an audio-only stream in each variant: the
// multivariant playlist names AAC alone, and a player (ffprobe) reading the
// live stream finds one AAC stream.
func TestLiveAudioOnly(t *testing.T) {
	for _, variant := range []string{VariantLowLatency, VariantMPEGTS} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			live := NewLive(LiveOptions{
				Variant: variant,
				Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
			srv := httptest.NewServer(http.StripPrefix("/hls/job1", live))
			defer srv.Close()
			url := srv.URL + "/hls/job1/index.m3u8"
			ctx, cancel := context.WithCancel(context.Background())
			if err := live.Open(ctx, audioOnlyInfo(), nil); err != nil {
				t.Fatalf("Open: %v", err)
			}
			fed := make(chan error, 1)
			go func() { fed <- feedAudio(ctx, live, time.Hour, 1) }()
			defer func() {
				cancel()
				if err := <-fed; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("feed: %v", err)
				}
				live.Close()
			}()

			_, mv := get(t, url)
			if !strings.Contains(mv, `CODECS="mp4a.40.2"`) || strings.Contains(mv, "avc1") || strings.Contains(mv, "RESOLUTION=") {
				t.Errorf("multivariant playlist of an audio-only stream:\n%s", mv)
			}
			time.Sleep(4 * time.Second)
			var media string
			for _, u := range uris(mv) {
				if strings.HasSuffix(u, ".m3u8") {
					media = u
				}
			}
			if media == "" {
				t.Fatalf("no media playlist in:\n%s", mv)
			}
			_, pl := get(t, strings.TrimSuffix(url, "index.m3u8")+media)
			t.Logf("%s:\n%s", media, pl)
			// gohlslib's MPEG-TS variant cuts audio at the end of a PES of
			// several AAC frames: 2.133 s, which the target duration of 2
			// still covers (HLS compares it rounded).
			for _, d := range durations(pl) {
				if d < 1.97 || d >= 2.2 {
					t.Errorf("segment of %.3f s, want 2:\n%s", d, pl)
					break
				}
			}
			if got := streamsOf(t, url); got != "audio/aac" {
				t.Errorf("ffprobe of the live stream found %s, want audio/aac alone", got)
			}
		})
	}
}

// durations lists a playlist's #EXTINF durations.
func durations(pl string) []float64 {
	var out []float64
	for _, ln := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(ln), "#EXTINF:"); ok {
			d, err := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64)
			if err == nil {
				out = append(out, d)
			}
		}
	}
	return out
}
