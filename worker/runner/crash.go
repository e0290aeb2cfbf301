package runner

import (
	"strings"
	"sync"
)

// tailSize is how much of the child's stderr is kept for its crash report.
const tailSize = 16 << 10

// stderrTail keeps the last bytes a child wrote to stderr: a Go process
// that crashes (a fault inside FFmpeg included) writes why there and exits
// with status 2, which alone says nothing.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *stderrTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if n := len(t.buf); n > tailSize {
		t.buf = append(t.buf[:0], t.buf[n-tailSize:]...)
	}
	return len(b), nil
}

// crash is the first line of a Go crash report in what the child wrote
// last, or "".
func (t *stderrTail) crash() string {
	t.mu.Lock()
	text := string(t.buf)
	t.mu.Unlock()
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		for _, mark := range []string{"panic: ", "fatal error: ", "SIGSEGV: ", "SIGABRT: ", "SIGBUS: ", "SIGILL: ", "SIGFPE: ", "[signal "} {
			if strings.HasPrefix(line, mark) {
				return truncate(line, 300)
			}
		}
	}
	return ""
}
