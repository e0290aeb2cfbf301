package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"time"

	"github.com/roomcast/roomcast/config"
)

// mediaMark is how many bytes a publisher has sent once media flows: the
// handshake (C0+C1+C2, 3073 bytes), connect, createStream, publish and the
// metadata come to well under it, and one 720p key frame is above it.
const mediaMark = 8 << 10

// arrival is when a connection through the proxy sent its first byte, and
// its mediaMark-th.
type arrival struct{ first, media time.Time }

// tapProxy is a TCP proxy in front of a real RTMP server that timestamps
// what each accepted connection sends, so the job it serves stays a healthy
// publish while the bench times its first byte.
type tapProxy struct {
	ln       net.Listener
	upstream string
	arrivals chan arrival
}

func startTapProxy(upstream string) (*tapProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tapProxy{ln: ln, upstream: upstream, arrivals: make(chan arrival, 16)}
	go p.accept()
	return p, nil
}

func (p *tapProxy) addr() string { return p.ln.Addr().String() }

func (p *tapProxy) close() { p.ln.Close() }

func (p *tapProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *tapProxy) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(c, up)
		c.Close()
	}()
	var a arrival
	var n int
	buf := make([]byte, 32<<10)
	for {
		k, err := c.Read(buf)
		if k > 0 {
			now := time.Now()
			if n == 0 {
				a.first = now
			}
			n += k
			if n >= mediaMark && a.media.IsZero() {
				a.media = now
				select {
				case p.arrivals <- a:
				default:
				}
			}
			if _, werr := up.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// startToFirstByte posts trials demo-room jobs streaming to RTMP through the
// proxy, one after the other, and times each from the POST to the first
// byte the proxy receives, and to mediaMark bytes. It returns the three
// series in milliseconds: first byte, media, the POST's answer.
func startToFirstByte(ctx context.Context, s *serveProc, ng *nginxIngest, trials int) (first, media, answer []float64, err error) {
	px, err := startTapProxy(fmt.Sprintf("127.0.0.1:%d", ng.port))
	if err != nil {
		return nil, nil, nil, err
	}
	defer px.close()
	for i := 0; i < trials; i++ {
		cfg := config.Job{
			MeetingURL:  "demo:",
			RTMPURLs:    []string{fmt.Sprintf("rtmp://%s/live/firstbyte%d", px.addr(), i)},
			Resolution:  config.Resolution{Width: 1280, Height: 720},
			FPS:         30,
			MaxDuration: config.Duration(30 * time.Second),
		}
		for len(px.arrivals) > 0 {
			<-px.arrivals // a reconnect of the previous trial's job
		}
		t0 := time.Now()
		st, err := s.startJob(ctx, cfg)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("trial %d: POST /v1/jobs: %w", i, err)
		}
		answered := time.Since(t0)
		var a arrival
		select {
		case a = <-px.arrivals:
		case <-time.After(15 * time.Second):
			return nil, nil, nil, fmt.Errorf("trial %d: job %s sent no RTMP media within 15 s", i, st.ID)
		}
		first = append(first, ms(a.first.Sub(t0)))
		media = append(media, ms(a.media.Sub(t0)))
		answer = append(answer, ms(answered))
		if _, err := s.client.Stop(ctx, st.ID, true); err != nil {
			return nil, nil, nil, fmt.Errorf("trial %d: stopping job %s: %w", i, st.ID, err)
		}
	}
	return first, media, answer, nil
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// medianMax returns the median and the maximum of xs.
func medianMax(xs []float64) (float64, float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0, 0
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[n-1]
}
