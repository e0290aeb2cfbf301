package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/worker"
)

// silentIngest accepts TCP connections and never reads a byte from them:
// an ingest whose process hung after the kernel took the connection.
type silentIngest struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startSilentIngest(t *testing.T) *silentIngest {
	t.Helper()
	l, err := smallBufferListen()
	if err != nil {
		t.Fatal(err)
	}
	s := &silentIngest{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *silentIngest) port() int { return s.l.Addr().(*net.TCPAddr).Port }

func (s *silentIngest) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *silentIngest) close() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// smallBufferListen listens on loopback with a 16 KiB receive buffer, which
// accepted sockets inherit. Without it a socket that nobody reads takes in
// megabytes first (loopback's buffers autotune), and a stall would reach
// the sender's writes only after tens of seconds of media; a distant ingest
// has the same bytes in flight on the path instead.
func smallBufferListen() (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
}

// stallingProxy forwards connections to an upstream (nginx-rtmp) until
// stall is called; from then on it stops reading what the publisher sends
// on the connections it has, and takes new ones without reading them,
// until unstall. The upstream sees a publisher that went quiet, and refuses
// another publish of the same key ("Already publishing") while that
// session lasts. unstall ends the hung sessions, both sides, as an ingest
// that recovers drops them, and forwards new connections again.
type stallingProxy struct {
	l        net.Listener
	upstream string
	mu       sync.Mutex
	stalled  chan struct{} // closed while stalled
	resumed  bool
	conns    []net.Conn
	hung     []net.Conn // the connections the stall caught, both sides
	accepts  int
	stalledN int // connections taken while stalled
}

func startStallingProxy(t *testing.T, upstream string) *stallingProxy {
	t.Helper()
	l, err := smallBufferListen()
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{l: l, upstream: upstream, stalled: make(chan struct{})}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallingProxy) port() int { return p.l.Addr().(*net.TCPAddr).Port }

func (p *stallingProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.accepts++
		stalled := p.isStalled()
		if stalled {
			p.stalledN++
			p.hung = append(p.hung, c)
		}
		p.mu.Unlock()
		if stalled {
			continue // held, never read
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		stall := p.stalled
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, up) }()
		go func() {
			buf := make([]byte, 4096)
			for {
				select {
				case <-stall:
					return // the publisher's bytes stay in its socket
				default:
				}
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := up.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil && !isTimeout(err) {
					if cw, ok := up.(*net.TCPConn); ok {
						_ = cw.CloseWrite()
					}
					return
				}
			}
		}()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// isStalled is called with mu held.
func (p *stallingProxy) isStalled() bool {
	select {
	case <-p.stalled:
		return !p.resumed
	default:
		return false
	}
}

func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.stalled)
	p.hung = append(p.hung, p.conns...)
}

// unstall closes the hung connections and forwards new ones again.
func (p *stallingProxy) unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumed = true
	p.stalled = make(chan struct{})
	for _, c := range p.hung {
		c.Close()
	}
	p.hung = nil
}

func (p *stallingProxy) counts() (accepts, whileStalled int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts, p.stalledN
}

func (p *stallingProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// rtmpSample is one look at the RTMP outputs in status.json.
type rtmpSample struct {
	at    time.Duration // since the job started
	state string
	outs  []worker.RTMPOutput
	drop  map[string]int64 // dropped packets by output name
}

// TestRTMPStalledIngests streams to three ingests while recording and
// serving live HLS: one that accepts the connection and never reads (it
// never answers the handshake), one behind a proxy that forwards for 5 s and
// then stops reading the stream for 20 s, so roomcast's writes block on a
// full socket, and a healthy one. The archive and the healthy ingest must lose
// nothing, the two stalled outputs must say so, the one behind the proxy
// must come back once the proxy forwards again, and the job must end on
// time: no part of it may wait on a socket that never drains.
func TestRTMPStalledIngests(t *testing.T) {
	// The proxy's stall outlasts roomcast's write deadline (10 s after the
	// socket filled), so roomcast drops the connection itself and retries
	// against the hung ingest before it recovers.
	const dur = 34 * time.Second
	const stallAt, unstallAt = 5 * time.Second, 25 * time.Second
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	lis := rtmptest.StartFFmpegListen(t, "live", "KEYHEALTHY3")
	silent := startSilentIngest(t)
	proxy := startStallingProxy(t, fmt.Sprintf("127.0.0.1:%d", ng.Port))
	urls := []string{
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/KEYSILENT1", silent.port()),
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/KEYSTALL2", proxy.port()),
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/KEYHEALTHY3", lis.Port),
	}
	out := t.TempDir()
	room := "file:" + filepath.Join(loopedRoom(t), "long.yaml") // the demo room ends at 15 s
	args := []string{"record", "--room", room, "--record", "--hls", "--http", fmt.Sprintf("127.0.0.1:%d", rtmptest.FreePort(t)),
		"--resolution", "640x360", "--duration", dur.String(), "--out", out, "--log-format", "json", "--log-level", "debug"}
	for _, u := range urls {
		args = append(args, "--rtmp", u)
	}
	rec := startRoomcast(t, cleanEnv(), args...)

	// Sample status.json as a backend would, on the job's clock.
	var jobStart time.Time
	var samples []rtmpSample
	stalled, unstalled := false, false
	var stalledAt, unstalledAt time.Duration
	ended := false
	for deadline := time.Now().Add(dur + 40*time.Second); !ended; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-rec.done:
			rec.exit, rec.exited, ended = err, true, true
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end within %v\n%s", dur+40*time.Second, tail(rec.stderr.String(), 4000))
		}
		st, ok := tryStatus(out)
		if !ok || st.StartedAt == nil {
			continue
		}
		if jobStart.IsZero() {
			jobStart = *st.StartedAt
		}
		now := time.Since(jobStart)
		if !stalled && now >= stallAt {
			proxy.stall()
			stalled, stalledAt = true, now
		}
		if !unstalled && now >= unstallAt {
			proxy.unstall()
			unstalled, unstalledAt = true, now
		}
		s := rtmpSample{at: now, state: string(st.State), outs: st.RTMPStreaming.Outputs, drop: map[string]int64{}}
		for _, o := range st.Stats.Outputs {
			s.drop[o.Name] = o.DroppedPackets
		}
		samples = append(samples, s)
	}
	endedAt := time.Since(jobStart)
	if rec.exit != nil {
		t.Fatalf("roomcast: %v\n%s", rec.exit, tail(rec.stderr.String(), 4000))
	}
	if !stalled || !unstalled {
		st, _ := tryStatus(out)
		t.Fatalf("the job ended %v in (%s: %s), before the proxy's stall (%v) and its end (%v)\n%s",
			endedAt, st.State, st.Reason, stallAt, unstallAt, tail(rec.stderr.String(), 4000))
	}
	// Ending on time: the duration, then finalizing, with every stalled
	// socket bounded.
	if endedAt > dur+8*time.Second {
		t.Errorf("the job ended %.1f s after its start, %.1f s past its %v: finalizing waited on a stalled socket",
			endedAt.Seconds(), (endedAt - dur).Seconds(), dur)
	}

	// What the outputs said, and when.
	firstErr := func(i int, after time.Duration, word string) (time.Duration, string) {
		for _, s := range samples {
			if s.at >= after && len(s.outs) > i && !s.outs[i].Running && s.outs[i].Error != nil &&
				strings.Contains(s.outs[i].Error.Message, word) {
				return s.at, s.outs[i].Error.Message
			}
		}
		return -1, ""
	}
	silentErrAt, silentMsg := firstErr(0, 0, "")
	if silentErrAt < 0 {
		t.Errorf("the silent ingest never showed an error")
	}
	stallErrAt, stallMsg := firstErr(1, stalledAt, "")
	if stallErrAt < 0 {
		t.Errorf("the stalled ingest never showed an error after the stall at %v", stalledAt)
	}
	lostAt, lostMsg := firstErr(1, stalledAt, "accepted no data")
	if lostAt < 0 || lostAt >= unstalledAt {
		t.Errorf("roomcast did not drop the stalled connection itself before the proxy ended it at %v (at %v)", unstalledAt, lostAt)
	}
	var recoveredAt time.Duration = -1
	for _, s := range samples {
		if s.at > unstalledAt && len(s.outs) > 1 && s.outs[1].Running && s.outs[1].Error == nil {
			recoveredAt = s.at
			break
		}
	}
	for _, s := range samples {
		if len(s.outs) > 2 && (!s.outs[2].Running || s.outs[2].Error != nil) && s.at > 3*time.Second && s.state == "running" {
			t.Errorf("the healthy ingest was not running at %v: %+v", s.at, s.outs[2])
			break
		}
	}
	final := readStatus(t, out)
	t.Logf("silent ingest: error %.1f s into the job: %q", silentErrAt.Seconds(), silentMsg)
	t.Logf("stalled ingest: stalled at %.1f s, error at %.1f s (%.1f s later): %q; forwarding again at %.1f s, running again at %.1f s",
		stalledAt.Seconds(), stallErrAt.Seconds(), (stallErrAt - stalledAt).Seconds(), stallMsg, unstalledAt.Seconds(), recoveredAt.Seconds())
	t.Logf("stalled ingest: connection dropped by roomcast at %.1f s: %q", lostAt.Seconds(), lostMsg)
	for i, o := range final.RTMPStreaming.Outputs {
		t.Logf("final rtmp:%d: running %v, retries %d, bytes %d, error %+v", i+1, o.Running, o.Retries, o.Bytes, o.Error)
	}
	for _, o := range final.Stats.Outputs {
		t.Logf("final %s: %d bytes, %d reconnects, %d errors, %d packets dropped", o.Name, o.Bytes, o.Reconnects, o.Errors, o.DroppedPackets)
	}
	accepts, whileStalled := proxy.counts()
	t.Logf("the proxy took %d connections, %d of them while stalled; the silent ingest took %d; the job ended %.1f s in",
		accepts, whileStalled, silent.accepted(), endedAt.Seconds())

	if len(final.RTMPStreaming.Outputs) != 3 {
		t.Fatalf("status lists %d RTMP outputs", len(final.RTMPStreaming.Outputs))
	}
	silentOut, stallOut, healthyOut := final.RTMPStreaming.Outputs[0], final.RTMPStreaming.Outputs[1], final.RTMPStreaming.Outputs[2]
	if silentOut.Error == nil || silentOut.Bytes != 0 || silentOut.Retries == 0 {
		t.Errorf("the silent ingest at the end: %+v, want an error, retries and no bytes", silentOut)
	}
	if silent.accepted() < 2 {
		t.Errorf("the silent ingest took %d connections: roomcast did not retry", silent.accepted())
	}
	// While it was stalled, not only once the proxy ended the session: a
	// job must not say "running" for an ingest that takes nothing.
	if stallErrAt >= unstalledAt {
		t.Errorf("the stalled ingest showed an error only at %v, after the proxy closed it at %v: it looked running throughout the stall",
			stallErrAt, unstalledAt)
	}
	if stats := dropsOf(final, "rtmp:2"); stats == 0 {
		t.Errorf("the stalled ingest dropped no packets: its stall was hidden in socket buffers")
	}
	if recoveredAt < 0 {
		t.Errorf("the stalled ingest never ran again after the proxy forwarded again at %v", unstalledAt)
	}
	if stallOut.Retries == 0 {
		t.Errorf("the stalled ingest at the end: %+v, want retries", stallOut)
	}
	if healthyOut.Error != nil || healthyOut.Retries != 0 || healthyOut.Bytes == 0 {
		t.Errorf("the healthy ingest: %+v", healthyOut)
	}
	if final.State != "stopped" || final.Recording.Error != nil || final.HLSStreaming.Error != nil {
		t.Errorf("job %s, recording %+v, HLS %+v", final.State, final.Recording, final.HLSStreaming)
	}
	stats := map[string]int64{}
	for _, o := range final.Stats.Outputs {
		stats[o.Name] = o.DroppedPackets
	}
	if stats["recording"] != 0 || stats["rtmp:3"] != 0 || stats["hls"] != 0 {
		t.Errorf("packets dropped by outputs that kept up: %v", stats)
	}

	// The archive and the healthy ingest ran on with no gap.
	want := int(dur.Seconds()) * 30
	if ts := videoPacketTimes(t, filepath.Join(out, "recording.mp4")); len(ts) < want-2 {
		t.Errorf("archive has %d frames, want %d", len(ts), want)
	} else {
		checkNoGap(t, "archive", ts, 1.0/30+0.002)
		t.Logf("archive: %d frames of %d", len(ts), want)
	}
	if err := lis.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	lts := videoPacketTimes(t, lis.Out)
	checkNoGap(t, "ffmpeg -listen ingest", lts, 0.1)
	if n := len(lts); n == 0 || lts[n-1]-lts[0] < dur.Seconds()-2 {
		t.Errorf("the healthy ingest got %d frames spanning %.1fs, want about %v", n, lts[max(n-1, 0)], dur)
	}

	// nginx got the stream before the stall and again after it.
	ng.Stop()
	recs := ng.Recordings()
	if len(recs) < 2 {
		t.Fatalf("nginx recorded %d streams, want 2 (before the stall and after it)", len(recs))
	}
	// A refused publish leaves an empty file.
	var withVideo [][]float64
	for _, r := range recs {
		if ts := tryVideoPacketTimes(r); len(ts) > 0 {
			withVideo = append(withVideo, ts)
		}
	}
	if len(withVideo) < 2 {
		t.Fatalf("nginx has %d recordings with video of %d, want 2 (before the stall and after it)", len(withVideo), len(recs))
	}
	before, after := withVideo[0], withVideo[len(withVideo)-1]
	got, window := after[len(after)-1]-after[0], dur.Seconds()-recoveredAt.Seconds()
	t.Logf("nginx: %.1f s before the stall, then %.1f s of the %.1f s from the reconnect to the job's end",
		before[len(before)-1]-before[0], got, window)
	if got < window-2.5 {
		t.Errorf("after the reconnect nginx received %.1f s of %.1f s", got, window)
	}
}

// tryVideoPacketTimes is videoPacketTimes for a file that may hold nothing.
func tryVideoPacketTimes(path string) []float64 {
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		return nil
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64); err == nil {
			ts = append(ts, v)
		}
	}
	return ts
}

// dropsOf is the packets an output dropped for falling behind.
func dropsOf(st worker.State, name string) int64 {
	for _, o := range st.Stats.Outputs {
		if o.Name == name {
			return o.DroppedPackets
		}
	}
	return 0
}
