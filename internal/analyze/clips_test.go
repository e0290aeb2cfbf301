package analyze

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clip describes a synthetic sync-test recording: two peer tiles side by
// side, each a flat colour flashing white for two frames, and a beep
// (60 ms) per flash. Peer A flashes every 1.0 s and beeps at 1 kHz, peer B
// every 1.3 s at 2 kHz, both from 0.5 s. Video is 30 fps.
type clip struct {
	w, h     int
	dur      float64
	colorA   string // 0xRRGGBB
	colorB   string
	noFlashB bool    // B's tile never flashes (another peer sits there)
	delayMs  int     // audio delayed with adelay
	rate     float64 // audio sample rate factor via asetrate (0: none)
	silent   bool    // no beeps at all
}

func defaultClip() clip {
	return clip{w: 1280, h: 720, dur: 6, colorA: "0x3060C0", colorB: "0xC06030"}
}

func runFFmpeg(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
	out, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// make renders the clip into dir/name with the ffmpeg CLI.
func (c clip) make(t *testing.T, dir, name string) string {
	t.Helper()
	tw := c.w / 2
	flashB := "gte(n,15)*lt(mod(n-15,39),2)"
	if c.noFlashB {
		flashB = "0"
	}
	video := fmt.Sprintf(
		"color=c=%s:s=%dx%d:r=30:d=%g,drawbox=w=iw:h=ih:color=white:t=fill:enable='gte(n,15)*lt(mod(n-15,30),2)'[a];"+
			"color=c=%s:s=%dx%d:r=30:d=%g,drawbox=w=iw:h=ih:color=white:t=fill:enable='%s'[b];[a][b]hstack",
		c.colorA, tw, c.h, c.dur, c.colorB, tw, c.h, c.dur, flashB)
	expr := "0.4*sin(2*PI*1000*t)*gte(t,0.5)*lt(mod(t-0.5,1.0),0.06)+0.4*sin(2*PI*2000*t)*gte(t,0.5)*lt(mod(t-0.5,1.3),0.06)"
	if c.silent {
		expr = "0"
	}
	audio := fmt.Sprintf("aevalsrc='%s':c=stereo:s=48000:d=%g", expr, c.dur)
	if c.delayMs > 0 {
		audio += fmt.Sprintf(",adelay=delays=%d:all=1", c.delayMs)
	}
	if c.rate > 0 {
		audio += fmt.Sprintf(",asetrate=%d,aresample=48000", int(48000*c.rate))
	}
	out := filepath.Join(dir, name)
	runFFmpeg(t, "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-threads", "2",
		"-c:a", "aac", "-b:a", "128k", "-t", fmt.Sprint(c.dur), out)
	return out
}
