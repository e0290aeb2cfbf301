package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/worker"
)

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress shows a one-line live view on a terminal, or writes a structured
// log line every few seconds elsewhere.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	log     *slog.Logger
	lastLog time.Time
	line    string // the progress line on screen, if any
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty}
}

// Write lets log lines share the terminal with the progress line: the line
// is cleared, the log written, and the line drawn again below it.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	n, err := p.w.Write(b)
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, p.line)
	}
	return n, err
}

func (p *progress) update(s worker.State) {
	if p.tty {
		p.mu.Lock()
		p.line = progressLine(s)
		fmt.Fprintf(p.w, "\r\033[K%s", p.line)
		p.mu.Unlock()
		return
	}
	if time.Since(p.lastLog) < 5*time.Second {
		return
	}
	p.lastLog = time.Now()
	args := []any{"state", s.State, "elapsed", fmt.Sprintf("%.1fs", s.Stats.Elapsed)}
	if s.AudioOnly {
		args = append(args, "audioOnly", true)
	} else {
		args = append(args, "fps", round1(s.Stats.FPS), "frames", s.Stats.Frames)
	}
	args = append(args, "kbps", round1(s.Stats.BitrateKbps), "peers", s.Peers)
	if s.Recording.Path != "" {
		args = append(args, "recording", outputWord(s.Recording.Running, s.Recording.Error), "recordingBytes", s.Recording.Bytes)
	}
	for i, o := range s.RTMPStreaming.Outputs {
		args = append(args, fmt.Sprintf("rtmp%d", i), o.URL+" "+outputWord(o.Running, o.Error), fmt.Sprintf("rtmp%dRetries", i), o.Retries)
	}
	if s.HLSStreaming.URL != nil {
		args = append(args, "hls", outputWord(s.HLSStreaming.Running, s.HLSStreaming.Error), "hlsUrl", *s.HLSStreaming.URL)
	}
	if s.HLSRecording.Path != nil {
		args = append(args, "hlsRecording", outputWord(s.HLSRecording.Running, s.HLSRecording.Error))
	}
	p.log.Info("progress", args...)
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.line != "" {
		fmt.Fprint(p.w, "\r\033[K")
		p.line = ""
	}
}

func (p *progress) done(s worker.State) {
	p.clear()
	word := string(s.State)
	if s.Error != nil {
		word += ": " + s.Error.Message
	}
	if s.AudioOnly {
		fmt.Fprintf(p.w, "job %s %s after %s (audio only)", s.ID, word, fmtElapsed(s.Stats.Elapsed))
	} else {
		fmt.Fprintf(p.w, "job %s %s after %s (%d frames)", s.ID, word, fmtElapsed(s.Stats.Elapsed), s.Stats.Frames)
	}
	if s.Reason != "" {
		fmt.Fprintf(p.w, "; %s", s.Reason)
	}
	fmt.Fprintln(p.w)
	for _, o := range s.RTMPStreaming.Outputs {
		if o.Error != nil {
			msg := o.Error.Message
			if !strings.Contains(msg, o.URL) {
				msg = o.URL + ": " + msg
			}
			fmt.Fprintf(p.w, "  rtmp: %s\n", msg)
		}
	}
	if s.Recording.Error != nil {
		fmt.Fprintf(p.w, "  recording: %s\n", s.Recording.Error.Message)
	}
	if s.HLSStreaming.Error != nil {
		fmt.Fprintf(p.w, "  hls: %s\n", s.HLSStreaming.Error.Message)
	}
	if s.HLSRecording.Error != nil {
		fmt.Fprintf(p.w, "  hls recording: %s\n", s.HLSRecording.Error.Message)
	}
}

func progressLine(s worker.State) string {
	var b strings.Builder
	if s.AudioOnly {
		fmt.Fprintf(&b, "%s %s | audio only | %6.0f kb/s | %d peers", s.State, fmtElapsed(s.Stats.Elapsed), s.Stats.BitrateKbps, s.Peers)
	} else {
		fmt.Fprintf(&b, "%s %s | %5.1f fps | %6.0f kb/s | %d peers", s.State, fmtElapsed(s.Stats.Elapsed), s.Stats.FPS, s.Stats.BitrateKbps, s.Peers)
	}
	if s.Recording.Path != "" {
		fmt.Fprintf(&b, " | %s %s %s", strings.TrimPrefix(path.Ext(s.Recording.Path), "."), outputWord(s.Recording.Running, s.Recording.Error), fmtBytes(s.Recording.Bytes))
	}
	for i, o := range s.RTMPStreaming.Outputs {
		fmt.Fprintf(&b, " | rtmp%d %s", i+1, outputWord(o.Running, o.Error))
		if o.Retries > 0 {
			fmt.Fprintf(&b, " (retries %d)", o.Retries)
		}
	}
	if s.HLSStreaming.URL != nil {
		fmt.Fprintf(&b, " | hls %s %s", outputWord(s.HLSStreaming.Running, s.HLSStreaming.Error), *s.HLSStreaming.URL)
	}
	if s.HLSRecording.Path != nil {
		fmt.Fprintf(&b, " | hls-rec %s", outputWord(s.HLSRecording.Running, s.HLSRecording.Error))
	}
	return b.String()
}

func outputWord(running bool, err *worker.Error) string {
	switch {
	case err != nil:
		return "error"
	case running:
		return "on"
	}
	return "off"
}

func fmtElapsed(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
