package rtmp

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Chunk stream ids: 2 is reserved for protocol control; the others are the
// ones FFmpeg and OBS use, which some ingest servers are known to expect.
const (
	csControl = 2
	csCommand = 3
	csAudio   = 4
	csData    = 5
	csVideo   = 6
	csPublish = 8
)

const (
	// outChunkSize is what we announce: large chunks cost fewer headers, and
	// 4096 is what OBS uses, so every ingest accepts it.
	outChunkSize = 4096
	// writeTimeout ends a connection whose socket stopped draining: a server
	// that accepts no data for this long is as good as gone.
	writeTimeout = 10 * time.Second
	// closeTimeout bounds the polite end of a publish on Close: sending
	// FCUnpublish/deleteStream, then waiting for the server to read the
	// rest of the stream and close.
	closeTimeout = 2 * time.Second
	// sendBufferMedia is how much of the stream the kernel may hold for an
	// ingest that stopped reading. Left to autotuning the send buffer
	// grows to megabytes (tcp_wmem's 4 MiB), tens of seconds of a stream
	// in which a stall goes unseen: our writes return, the fan-out sees a
	// sink that keeps up, and the ingest's viewers get it all seconds late
	// when it wakes. A second of the stream still covers the path's
	// bandwidth-delay product for any round trip under a second.
	sendBufferMedia = time.Second
	// minSendBuffer and maxSendBuffer bound it for tiny and huge bitrates.
	minSendBuffer = 64 << 10
	maxSendBuffer = 4 << 20
)

// sendBufferSize is the socket send buffer for a stream of bitrate bits per
// second (0: unknown, taken as a 4 Mbit/s stream).
func sendBufferSize(bitrate int) int {
	if bitrate <= 0 {
		bitrate = 4_000_000
	}
	return min(max(int(int64(bitrate)*int64(sendBufferMedia)/int64(time.Second)/8), minSendBuffer), maxSendBuffer)
}

// conn is one publishing RTMP connection. Media writes come from the sink's
// goroutine; a reader goroutine answers the server's pings and window
// acknowledgements and notices when the server goes away.
type conn struct {
	nc  net.Conn
	log *slog.Logger

	// Writer side, shared by the media writer and the reader's replies.
	wmu      sync.Mutex
	w        *chunkWriter
	streamID uint32 // the message stream the server gave us for publishing

	// Reader side: used by whoever reads, which is the connecting goroutine
	// until publish is confirmed and the reader goroutine after.
	r *chunkReader

	done       chan struct{} // closed when the connection is dead
	errOnce    sync.Once
	err        error
	readerDone chan struct{}
}

// newConn wraps an established connection (TCP or TLS) in the chunk layer.
func newConn(nc net.Conn, log *slog.Logger) *conn {
	c := &conn{
		nc:         nc,
		log:        log,
		w:          newChunkWriter(nc, outChunkSize+64),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	c.r = newChunkReader(nc, func(seq uint32) error {
		return c.writeControl(msgAck, binary.BigEndian.AppendUint32(nil, seq))
	})
	return c
}

// dialConfig is what one connection attempt needs.
type dialConfig struct {
	target  *target
	tls     *tls.Config
	timeout time.Duration
	log     *slog.Logger
	sendBuf int // socket send buffer, bytes; 0 leaves the kernel's autotuning
}

// dialPublish connects, handshakes and publishes, and returns once the server
// has confirmed the publish with NetStream.Publish.Start. The whole sequence
// is bounded by cfg.timeout and by ctx.
func dialPublish(ctx context.Context, cfg dialConfig) (*conn, error) {
	t := cfg.target
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, stageErr(ctx, cfg.timeout, "connect", err)
	}
	if tc, ok := nc.(*net.TCPConn); ok && cfg.sendBuf > 0 {
		if err := tc.SetWriteBuffer(cfg.sendBuf); err != nil {
			cfg.log.Debug("rtmp: setting the send buffer", "err", err)
		}
	}
	if t.scheme == "rtmps" {
		tc := tls.Client(nc, cfg.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, stageErr(ctx, cfg.timeout, "TLS handshake", err)
		}
		nc = tc
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// A cancelled ctx must interrupt a blocked read or write right away,
	// not at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })

	c := newConn(nc, cfg.log)
	err = c.publish(t)
	// Stop the watcher before clearing the deadline, so a late cancel cannot
	// leave a deadline in the past on a healthy connection.
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, stageErr(ctx, cfg.timeout, "publish", err)
	}
	_ = nc.SetDeadline(time.Time{})
	go c.readLoop()
	return c, nil
}

// stageErr words a failed step: a timeout says how long we waited, a
// cancellation is returned as such.
func stageErr(ctx context.Context, timeout time.Duration, stage string, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %v (connect timeout)", stage, timeout)
	}
	var rej *rejection
	if ctx.Err() != nil && !errors.As(err, &rej) {
		return fmt.Errorf("%s: %w", stage, ctx.Err())
	}
	return fmt.Errorf("%s: %w", stage, err)
}

func (c *conn) writeControl(typ byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.writeMessage(csControl, typ, 0, 0, payload)
}

func (c *conn) writeCommand(streamID uint32, name string, tx int, args ...any) error {
	b := appendCommand(nil, name, tx, args...)
	cs := byte(csCommand)
	if streamID != 0 {
		cs = csPublish
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.writeMessage(cs, msgAMF0Command, streamID, 0, b)
}

// writeMedia sends one audio, video or data message on the publish stream.
func (c *conn) writeMedia(typ byte, ts uint32, payload []byte) error {
	select {
	case <-c.done:
		return c.deadErr()
	default:
	}
	cs := byte(csVideo)
	switch typ {
	case msgAudio:
		cs = csAudio
	case msgAMF0Data:
		cs = csData
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.w.writeMessage(cs, typ, c.streamID, ts, payload); err != nil {
		c.fail(netErr(err))
		return c.deadErr()
	}
	return nil
}

// readMessage reads the next message and answers the server's pings.
func (c *conn) readMessage() (*message, error) {
	m, err := c.r.readMessage()
	if err != nil {
		return nil, err
	}
	// Ping request (6): answer with a ping response (7) carrying the same
	// timestamp, or the server drops us as dead.
	if m.typ == msgUserControl && len(m.payload) >= 6 && binary.BigEndian.Uint16(m.payload) == 6 {
		resp := append([]byte{0, 7}, m.payload[2:6]...)
		if err := c.writeControl(msgUserControl, resp); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// waitCommand reads until a command matching want arrives, skipping
// everything else (onBWDone, answers to releaseStream/FCPublish...).
func (c *conn) waitCommand(want func(*command) bool) (*command, error) {
	for {
		m, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		if !isCommand(m) {
			continue
		}
		cmd, err := parseCommand(m)
		if err != nil {
			return nil, err
		}
		c.log.Debug("rtmp server command", "name", cmd.name, "code", cmd.code())
		if want(cmd) {
			return cmd, nil
		}
	}
}

// readLoop runs for the life of a published connection: it keeps the
// protocol alive and turns the server going away, or ending the publish
// with an error status, into the connection's error.
func (c *conn) readLoop() {
	defer close(c.readerDone)
	for {
		m, err := c.readMessage()
		if err != nil {
			c.fail(netErr(err))
			return
		}
		if !isCommand(m) {
			continue
		}
		cmd, err := parseCommand(m)
		if err != nil {
			continue
		}
		c.log.Debug("rtmp server command", "name", cmd.name, "code", cmd.code())
		if isRefusal(cmd) || cmd.name == "close" {
			c.fail(fmt.Errorf("server ended the publish: %s", cmd.status()))
			return
		}
	}
}

// netErr words the ways a live connection ends; other errors pass as they
// are.
func netErr(err error) error {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("server closed the connection")
	case errors.Is(err, syscall.ECONNRESET):
		return errors.New("server closed the connection (reset)")
	case errors.Is(err, syscall.EPIPE):
		return errors.New("server closed the connection (broken pipe)")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("server accepted no data for %v", writeTimeout)
	}
	return err
}

// fail records the first error and tears the connection down.
func (c *conn) fail(err error) {
	c.errOnce.Do(func() {
		c.err = err
		close(c.done)
		_ = c.nc.Close()
	})
}

func (c *conn) deadErr() error {
	<-c.done
	return c.err
}

// dead reports whether the connection has failed.
func (c *conn) dead() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close ends the publish politely when the connection is healthy, then
// closes it and waits for the reader.
//
// The close lingers: we half-close and wait (up to closeTimeout) for the
// server to close its side. Closing at once would make our kernel answer the
// server's last replies (onStatus for deleteStream) with a reset, and a reset
// makes the server's kernel discard whatever media it had not read yet: the
// tail of the stream would be lost.
func (c *conn) close(t *target) {
	if !c.dead() {
		c.wmu.Lock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeTimeout))
		c.wmu.Unlock()
		c.unpublish(t)
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			select {
			case <-c.done:
			case <-time.After(closeTimeout):
			}
		}
	}
	c.fail(errors.New("closed"))
	<-c.readerDone
}
