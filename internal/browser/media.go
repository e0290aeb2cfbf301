package browser

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Media describes the files Chromium's fake capture plays in a loop: a flat
// colour flashing white, and a sine beep at each flash, so that a recording
// shows the peer by its colour and `roomcast analyze sync` can pair flashes
// with beeps.
type Media struct {
	Width, Height int     // camera size; default 640x360
	FPS           int     // default 30
	Color         string  // ffmpeg colour, 0xRRGGBB; default 0x3060C0
	ToneHz        float64 // beep frequency; default 1000
	PeriodS       float64 // a flash and a beep every PeriodS seconds, from PeriodS/2; default 1
	DurationS     float64 // the loop's length, a whole number of periods; default 4
	NoFlash       bool    // a steady colour, with the beeps still on
}

func (m Media) withDefaults() Media {
	if m.Width == 0 || m.Height == 0 {
		m.Width, m.Height = 640, 360
	}
	if m.FPS == 0 {
		m.FPS = 30
	}
	if m.Color == "" {
		m.Color = "0x3060C0"
	}
	if m.ToneHz == 0 {
		m.ToneHz = 1000
	}
	if m.PeriodS == 0 {
		m.PeriodS = 1
	}
	if m.DurationS == 0 {
		m.DurationS = 4
	}
	return m
}

// Files are a Media's two files.
type Files struct {
	Video string // .y4m, for --use-file-for-fake-video-capture
	Audio string // .wav, for --use-file-for-fake-audio-capture
}

// MakeMedia renders m into dir with ffmpeg. Video and audio have the same
// length, so that their loops stay in step: the only offset between a flash
// and its beep is the one the browser adds by starting its two fake devices
// at different moments, which the page's probe measures.
func MakeMedia(ctx context.Context, dir, name string, m Media) (Files, error) {
	m = m.withDefaults()
	if m.Width%2 != 0 || m.Height%2 != 0 {
		return Files{}, fmt.Errorf("browser: Media.Width and Height must be even, got %dx%d", m.Width, m.Height)
	}
	if m.PeriodS <= 0 || m.DurationS < m.PeriodS {
		return Files{}, fmt.Errorf("browser: Media.PeriodS (%g) must be positive and at most DurationS (%g)", m.PeriodS, m.DurationS)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return Files{}, fmt.Errorf("browser: ffmpeg not found (scripts/install-deps.sh build installs it): %w", err)
	}
	f := Files{Video: filepath.Join(dir, name+".y4m"), Audio: filepath.Join(dir, name+".wav")}
	// A flash lasts two frames; n counts frames, t seconds.
	first := int(m.PeriodS / 2 * float64(m.FPS))
	period := int(m.PeriodS * float64(m.FPS))
	flash := fmt.Sprintf("gte(n,%d)*lt(mod(n-%d,%d),2)", first, first, period)
	if m.NoFlash {
		flash = "0"
	}
	video := fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%g,drawbox=w=iw:h=ih:color=white:t=fill:enable='%s',format=yuv420p",
		m.Color, m.Width, m.Height, m.FPS, m.DurationS, flash)
	audio := fmt.Sprintf("aevalsrc='0.5*sin(2*PI*%g*t)*gte(t,%g)*lt(mod(t-%g,%g),0.06)':c=mono:s=48000:d=%g",
		m.ToneHz, m.PeriodS/2, m.PeriodS/2, m.PeriodS, m.DurationS)
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", video, "-f", "yuv4mpegpipe", f.Video},
		{"-f", "lavfi", "-i", audio, "-c:a", "pcm_s16le", f.Audio},
	} {
		full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
		if out, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
			return Files{}, fmt.Errorf("browser: ffmpeg %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return f, nil
}
