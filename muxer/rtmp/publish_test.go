package rtmp

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
)

const (
	testW, testH, testFPS = 320, 240, 30
	sendSeconds           = 4
)

// checkRecording asserts a received file is H.264 + AAC of the test size
// and about as long as what was sent.
func checkRecording(t *testing.T, file string, wantSeconds float64) {
	t.Helper()
	p := rtmptest.ProbeFile(t, file)
	codec, w, h, ok := p.Stream("video")
	if !ok || codec != "h264" || w != testW || h != testH {
		t.Errorf("%s: video = %q %dx%d (present %v), want h264 %dx%d", file, codec, w, h, ok, testW, testH)
	}
	if codec, _, _, ok := p.Stream("audio"); !ok || codec != "aac" {
		t.Errorf("%s: audio = %q (present %v), want aac", file, codec, ok)
	}
	if d := p.Duration(); math.Abs(d-wantSeconds) > 0.5 {
		t.Errorf("%s: duration %.2fs, want %.1fs ± 0.5", file, d, wantSeconds)
	}
	if errs, firstKey := rtmptest.DecodeCheck(t, file); errs != "" || !firstKey {
		t.Errorf("%s: decode errors %q, first video packet is a keyframe: %v", file, errs, firstKey)
	}
}

// publish sends the whole source through a new sink and closes it.
func publish(t *testing.T, url string, src *rtmptest.Source, mod func(*Options)) *stateLog {
	t.Helper()
	s, _ := newSink(t, url, mod)
	states := newStateLog(t)
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatalf("Open: %v", err)
	}
	if st, ok := states.last(); !ok || !st.Running {
		t.Fatalf("not running after Open: %+v", states.all())
	}
	err := feed(t, s, src, 0, time.Hour, false)
	checkNoKey(t, err)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, st := range states.all() {
		if st.Err != nil {
			t.Errorf("error reported during a clean publish: %v", st.Err)
		}
	}
	return states
}

func TestPublish(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, sendSeconds, testW, testH, testFPS)

	t.Run("nginx-rtmp", func(t *testing.T) {
		t.Parallel()
		ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
		publish(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey), src, nil)
		ng.WaitPublishesEnded(1, 5*time.Second)
		ng.Stop()
		recs := ng.Recordings()
		if len(recs) != 1 {
			t.Fatalf("recordings: %v", recs)
		}
		checkRecording(t, recs[0], sendSeconds)
	})

	t.Run("ffmpeg-listen", func(t *testing.T) {
		t.Parallel()
		l := rtmptest.StartFFmpegListen(t, "live", testKey)
		publish(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", l.Port, testKey), src, nil)
		if err := l.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		checkRecording(t, l.Out, sendSeconds)
	})

	// Three outputs at once, as a job with three URLs runs them: each sink
	// on its own goroutine, two keys on nginx and one ffmpeg listener.
	t.Run("three at once", func(t *testing.T) {
		t.Parallel()
		ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
		l := rtmptest.StartFFmpegListen(t, "live", testKey)
		urls := []string{
			fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey),
			fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s-2", ng.Port, testKey),
			fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", l.Port, testKey),
		}
		// t.Run returns once its parallel subtests are all done.
		t.Run("outputs", func(t *testing.T) {
			for i, u := range urls {
				t.Run(fmt.Sprint(i), func(t *testing.T) {
					t.Parallel()
					publish(t, u, src, nil)
				})
			}
		})
		if err := l.Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		ng.WaitPublishesEnded(2, 5*time.Second)
		ng.Stop()
		recs := append(ng.Recordings(), l.Out)
		if len(recs) != 3 {
			t.Fatalf("recordings: %v", recs)
		}
		for _, r := range recs {
			checkRecording(t, r, sendSeconds)
		}
	})

	t.Run("rtmps", func(t *testing.T) {
		t.Parallel()
		certs := rtmptest.NewTLS(t)
		ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{CertFile: certs.CertFile, KeyFile: certs.KeyFile})
		publish(t, fmt.Sprintf("rtmps://localhost:%d/live/%s", ng.TLSPort, testKey), src,
			func(o *Options) { o.CAFile = certs.CAFile })
		ng.WaitPublishesEnded(1, 5*time.Second)
		ng.Stop()
		recs := ng.Recordings()
		if len(recs) != 1 {
			t.Fatalf("recordings: %v", recs)
		}
		checkRecording(t, recs[0], sendSeconds)
	})
}
