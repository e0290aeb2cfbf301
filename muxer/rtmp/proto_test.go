package rtmp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/muxer/output"
)

// newTestConn wraps one end of a connection in the package's chunk layer.
func newTestConn(nc net.Conn) *conn {
	return newConn(nc, slog.New(slog.DiscardHandler))
}

// fakeServer accepts one RTMP publisher and answers its publish with
// onStatus NetStream.Publish.Denied, quoting the stream name, as some
// services do: the sink must pass the message on with the key masked.
func fakeServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		c := newTestConn(nc)
		hs := make([]byte, 1537)
		if _, err := io.ReadFull(c.r, hs); err != nil {
			return
		}
		s0s1s2 := append(append([]byte{3}, make([]byte, 1536)...), hs[1:]...)
		if _, err := nc.Write(s0s1s2); err != nil {
			return
		}
		if _, err := io.ReadFull(c.r, hs[1:]); err != nil {
			return
		}
		for {
			m, err := c.readMessage()
			if err != nil {
				return
			}
			if m.typ != msgAMF0Command {
				continue
			}
			cmd, err := parseCommand(m)
			if err != nil {
				return
			}
			switch cmd.name {
			case "connect":
				_ = c.writeCommand(0, "_result", 1, amfObj{{"fmsVer", "fake/1"}},
					amfObj{{"level", "status"}, {"code", "NetConnection.Connect.Success"}})
			case "createStream":
				_ = c.writeCommand(0, "_result", int(cmd.tx), nil, 1)
			case "publish":
				name, _ := cmd.args[1].(string)
				_ = c.writeCommand(1, "onStatus", 0, nil, amfObj{{"level", "error"},
					{"code", "NetStream.Publish.Denied"}, {"description", "stream " + name + " is not allowed here"}})
			}
		}
	}()
	return l.Addr().String()
}

func TestServerMessageMasked(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t)
	s, logs := newSink(t, fmt.Sprintf("rtmp://%s/app/%s", addr, testKey), nil)
	defer s.Close()
	states := newStateLog(t)
	info := output.StreamInfo{Video: output.VideoInfo{TimeBase: output.Rational{Num: 1, Den: 30}},
		Audio: output.AudioInfo{SampleRate: 48000, Channels: 2, TimeBase: output.Rational{Num: 1, Den: 48000}}}
	if err := s.Open(context.Background(), info, states); err != nil {
		t.Fatal(err)
	}
	st, ok := states.firstErr()
	if !ok {
		t.Fatalf("no error reported: %+v", states.all())
	}
	msg := st.Err.Error()
	for _, want := range []string{"NetStream.Publish.Denied", "stream **** is not allowed here"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	checkNoKey(t, st.Err)
	if !strings.Contains(logs.String(), "is not allowed here") {
		t.Errorf("server message not logged:\n%s", logs.String())
	}
	// testLogger's cleanup checks the log for the key.
}

// TestNoKeyAnywhere runs the paths that produce text (connect failures,
// publishing, reconnecting, giving up) and greps every log line, report and
// returned error for the key. The other tests check the same through their
// loggers; this one puts it in one place.
func TestNoKeyAnywhere(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, 2, testW, testH, testFPS)
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	log, buf := testLogger(t)
	var errs []error
	for _, url := range []string{
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey),
		fmt.Sprintf("rtmp://127.0.0.1:%d/nosuchapp/%s", ng.Port, testKey),
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s?token=%s", rtmptest.FreePort(t), testKey, testKey),
		fmt.Sprintf("rtmps://127.0.0.1:%d/live/%s", ng.Port, testKey),
	} {
		errs = append(errs, ValidateURL(url))
		s, err := New(Options{URL: url, Logger: log, RetryWindow: 600 * time.Millisecond, ConnectTimeout: time.Second})
		errs = append(errs, err)
		states := newStateLog(t)
		errs = append(errs, s.Open(context.Background(), src.Info, states))
		errs = append(errs, feed(t, s, src, 0, time.Hour, false))
		time.Sleep(700 * time.Millisecond)
		errs = append(errs, feed(t, s, src, 0, time.Hour, false))
		errs = append(errs, s.Close())
		for _, st := range states.all() {
			errs = append(errs, st.Err)
		}
	}
	for _, bad := range []string{"ftp://h/app/" + testKey, "rtmp://h/" + testKey, "rtmp://h/app/" + testKey + "%zz"} {
		errs = append(errs, ValidateURL(bad))
		_, err := New(Options{URL: bad})
		errs = append(errs, err)
	}
	n := 0
	for _, err := range errs {
		checkNoKey(t, err)
		if err != nil {
			n++
		}
	}
	if n < 8 || !strings.Contains(buf.String(), "/live/****") {
		t.Errorf("expected errors and masked URLs in the log; got %d errors, log:\n%s", n, buf.String())
	}
}
