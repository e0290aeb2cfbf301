package natstest

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes each whole line to w behind a node's name, so the
// interleaved logs of a cluster read as one timeline.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  []byte
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			break
		}
		line := make([]byte, 0, len(p.prefix)+len(p.partial)+i+1)
		line = append(append(append(line, p.prefix...), p.partial...), b[:i+1]...)
		p.partial = p.partial[:0]
		b = b[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return n, err
		}
	}
	return n, nil
}
