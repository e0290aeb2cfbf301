package rtmp

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/muxer/output"
)

// stallingServer accepts RTMP publishers on a socket with a 16 KiB receive
// buffer and confirms their publish; then it stops reading, for the first
// connection only, as an ingest whose process hung. Later connections are
// read to the end. It counts what it read of each connection.
func stallingServer(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int32{}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, nc := range open {
			nc.Close()
		}
	})
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			go func() {
				if !answerPublish(nc) {
					return
				}
				if n > 1 {
					_, _ = io.Copy(io.Discard, nc)
				}
				// The first: never read again.
			}()
		}
	}()
	return l.Addr().String(), conns
}

// answerPublish does the server's side of a publish up to
// NetStream.Publish.Start.
func answerPublish(nc net.Conn) bool {
	c := newTestConn(nc)
	hs := make([]byte, 1537)
	if _, err := io.ReadFull(c.r, hs); err != nil {
		return false
	}
	if _, err := nc.Write(append(append([]byte{3}, make([]byte, 1536)...), hs[1:]...)); err != nil {
		return false
	}
	if _, err := io.ReadFull(c.r, hs[1:]); err != nil {
		return false
	}
	for {
		m, err := c.readMessage()
		if err != nil {
			return false
		}
		if m.typ != msgAMF0Command {
			continue
		}
		cmd, err := parseCommand(m)
		if err != nil {
			return false
		}
		switch cmd.name {
		case "connect":
			_ = c.writeCommand(0, "_result", 1, amfObj{{"fmsVer", "fake/1"}},
				amfObj{{"level", "status"}, {"code", "NetConnection.Connect.Success"}})
		case "createStream":
			_ = c.writeCommand(0, "_result", int(cmd.tx), nil, 1)
		case "publish":
			_ = c.writeCommand(1, "onStatus", 0, nil, amfObj{{"level", "status"}, {"code", "NetStream.Publish.Start"}})
			return true
		}
	}
}

// TestStalledIngest: an ingest that stops reading blocks the sink's writes
// after about a second of the stream (the socket's send buffer is sized to
// the stream, not left to autotune to megabytes), the blocked write ends
// after writeTimeout with a report that says so, and the sink reconnects.
func TestStalledIngest(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, 4, testW, testH, testFPS)
	addr, conns := stallingServer(t)
	s, _ := newSink(t, fmt.Sprintf("rtmp://%s/live/%s", addr, testKey), nil)
	states := newStateLog(t)
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The clip again and again on a growing timeline, unpaced, until a
	// Write has been blocked for a while.
	const span = 4 * time.Second // the clip's length
	blockedSince := atomic.Int64{}
	done := make(chan error, 1)
	go func() {
		for loop := int64(0); ; loop++ {
			for _, p := range src.Packets {
				q := *p
				tb := src.Info.Video.TimeBase
				if q.Kind == output.Audio {
					tb = src.Info.Audio.TimeBase
				}
				shift := loop * int64(span/time.Millisecond) * int64(tb.Den) / (1000 * int64(tb.Num))
				q.PTS += shift
				q.DTS += shift
				blockedSince.Store(time.Now().UnixNano())
				if err := s.Write(context.Background(), &q); err != nil {
					done <- err
					return
				}
				blockedSince.Store(0)
				if conns.Load() > 1 {
					done <- nil
					return
				}
			}
		}
	}()
	// Wait for a write blocked half a second: the buffers are full.
	var plateau int64
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b := blockedSince.Load(); b != 0 && time.Since(time.Unix(0, b)) > 500*time.Millisecond {
			plateau = s.BytesWritten()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write blocked after %d bytes", s.BytesWritten())
		}
	}
	bitrate := src.Info.Video.Bitrate + src.Info.Audio.Bitrate
	buf := sendBufferSize(bitrate)
	t.Logf("a write blocked after %d bytes (%.1f s of the %d kbit/s stream; send buffer %d bytes)",
		plateau, float64(plateau*8)/float64(bitrate), bitrate/1000, buf)
	// The kernel doubles SO_SNDBUF and keeps part for itself; the server
	// holds its receive buffer. Autotuned, loopback took megabytes.
	if plateau > int64(4*buf+64<<10) {
		t.Errorf("%d bytes went out before a write blocked, want about the %d-byte send buffer", plateau, buf)
	}
	blockedAt := time.Now()

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	case <-time.After(writeTimeout + DefaultConnectTimeout + 5*time.Second):
		t.Fatalf("no reconnect %v after the stall; states %+v", time.Since(blockedAt), states.all())
	}
	var lost timedState
	for _, st := range states.all() {
		if !st.Running && st.Err != nil && strings.Contains(st.Err.Error(), "accepted no data") {
			lost = st
			break
		}
	}
	if lost.Err == nil {
		t.Fatalf("the stall was not reported: %+v", states.all())
	}
	if d := lost.at.Sub(blockedAt); d > writeTimeout+time.Second {
		t.Errorf("the stall was reported %v after the write blocked, want within writeTimeout (%v)", d, writeTimeout)
	}
	t.Logf("reported %v after the write blocked: %v", lost.at.Sub(blockedAt).Round(time.Millisecond), lost.Err)
	waitRunning := time.Now().Add(5 * time.Second)
	for {
		if st, ok := states.runningSince(lost.at); ok {
			if st.Retries < 1 {
				t.Errorf("running again with %d retries", st.Retries)
			}
			break
		}
		if time.Now().After(waitRunning) {
			t.Fatalf("not running again after the reconnect: %+v", states.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
