package rtmp

import (
	"bufio"
	"context"
	"crypto/rand"
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

// RTMP message types (RTMP spec 5.4, 7.1).
const (
	msgSetChunkSize     = 1
	msgAbort            = 2
	msgAck              = 3
	msgUserControl      = 4
	msgWindowAckSize    = 5
	msgSetPeerBandwidth = 6
	msgAudio            = 8
	msgVideo            = 9
	msgAMF3Command      = 17
	msgAMF0Data         = 18
	msgAMF0Command      = 20
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
	// maxInMessage bounds what we buffer from the server; it only ever sends
	// commands and control messages, a few hundred bytes each.
	maxInMessage = 1 << 20
	// writeTimeout ends a connection whose socket stopped draining: a server
	// that accepts no data for this long is as good as gone.
	writeTimeout = 10 * time.Second
	// closeTimeout bounds the polite end of a publish on Close: sending
	// FCUnpublish/deleteStream, then waiting for the server to read the
	// rest of the stream and close.
	closeTimeout = 2 * time.Second
)

// Transaction ids of our commands, fixed because each is sent once per
// connection.
const (
	txConnect       = 1
	txReleaseStream = 2
	txFCPublish     = 3
	txCreateStream  = 4
	txPublish       = 5
	txFCUnpublish   = 6
	txDeleteStream  = 7
)

// message is one reassembled RTMP message.
type message struct {
	typ      byte
	streamID uint32
	ts       uint32
	payload  []byte
}

// command is a decoded AMF command message.
type command struct {
	name string
	tx   float64
	args []any // after the transaction id: command object, then arguments
}

// info returns the first object argument after the command object: where
// _result, _error and onStatus put their level, code and description.
func (c *command) info() map[string]any {
	for i, a := range c.args {
		if m, ok := a.(map[string]any); ok && (i > 0 || len(c.args) == 1) {
			return m
		}
	}
	return nil
}

// status formats the server's own words for an error message.
func (c *command) status() string {
	m := c.info()
	code, _ := m["code"].(string)
	desc, _ := m["description"].(string)
	switch {
	case code != "" && desc != "":
		return code + ": " + desc
	case code != "":
		return code
	case desc != "":
		return desc
	}
	return "no details given"
}

func (c *command) level() string {
	s, _ := c.info()["level"].(string)
	return s
}

func (c *command) code() string {
	s, _ := c.info()["code"].(string)
	return s
}

// chunkState is what the reader remembers per chunk stream to decode the
// compressed headers (types 1-3) that follow a full one.
type chunkState struct {
	ts, delta uint32
	length    uint32
	typ       byte
	streamID  uint32
	extended  bool
	buf       []byte // the message being reassembled
}

// conn is one publishing RTMP connection. Media writes come from the sink's
// goroutine; a reader goroutine answers the server's pings and window
// acknowledgements and notices when the server goes away.
type conn struct {
	nc  net.Conn
	log *slog.Logger

	// Writer side, shared by the media writer and the reader's replies.
	wmu       sync.Mutex
	bw        *bufio.Writer
	hdr       []byte
	chunkSize uint32 // what the server expects from us
	streamID  uint32 // the message stream the server gave us for publishing

	// Reader side: touched by whoever reads, which is the connecting
	// goroutine until publish is confirmed and the reader goroutine after.
	br        *bufio.Reader
	inChunk   uint32
	chunks    map[uint32]*chunkState
	received  uint64
	ackWindow uint32
	lastAck   uint64

	done       chan struct{} // closed when the connection is dead
	errOnce    sync.Once
	err        error
	readerDone chan struct{}
}

// countingReader counts bytes for the acknowledgements RTMP asks for.
type countingReader struct {
	r io.Reader
	n *uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += uint64(n)
	return n, err
}

// dialConfig is what one connection attempt needs.
type dialConfig struct {
	target  *target
	tls     *tls.Config
	timeout time.Duration
	log     *slog.Logger
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

	c := &conn{
		nc:         nc,
		log:        cfg.log,
		bw:         bufio.NewWriterSize(nc, outChunkSize+64),
		inChunk:    128,
		chunkSize:  128,
		chunks:     map[uint32]*chunkState{},
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	c.br = bufio.NewReader(countingReader{r: nc, n: &c.received})

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

// rejection is a refusal by the server, as opposed to a network failure.
type rejection struct{ msg string }

func (r *rejection) Error() string { return r.msg }

func rejected(format string, args ...any) error {
	return &rejection{msg: fmt.Sprintf(format, args...)}
}

// publish runs the RTMP handshake and the command sequence FMLE, OBS and
// FFmpeg use: connect, releaseStream, FCPublish, createStream, publish. Some
// ingests (notably the big platforms) expect releaseStream/FCPublish before
// they accept a publish.
func (c *conn) publish(t *target) error {
	if err := c.handshake(); err != nil {
		return fmt.Errorf("RTMP handshake: %w", err)
	}
	if err := c.writeControl(msgSetChunkSize, binary.BigEndian.AppendUint32(nil, outChunkSize)); err != nil {
		return err
	}
	// Only now: SetChunkSize itself had to go out in 128-byte chunks.
	c.wmu.Lock()
	c.chunkSize = outChunkSize
	c.wmu.Unlock()

	connectObj := amfObj{
		{"app", t.app},
		{"type", "nonprivate"},
		{"flashVer", "FMLE/3.0 (compatible; roomcast)"},
		{"tcUrl", t.tcURL},
	}
	if err := c.writeCommand(0, "connect", txConnect, connectObj); err != nil {
		return fmt.Errorf("send connect: %w", err)
	}
	res, err := c.waitCommand(func(cmd *command) bool {
		return cmd.tx == txConnect && (cmd.name == "_result" || cmd.name == "_error")
	})
	if err != nil {
		return c.closedErr(err, fmt.Sprintf("during connect (application %q refused?)", t.app))
	}
	if res.name == "_error" || res.level() == "error" {
		return rejected("server refused connect to application %q: %s", t.app, res.status())
	}

	if err := c.writeCommand(0, "releaseStream", txReleaseStream, nil, t.key); err != nil {
		return fmt.Errorf("send releaseStream: %w", err)
	}
	if err := c.writeCommand(0, "FCPublish", txFCPublish, nil, t.key); err != nil {
		return fmt.Errorf("send FCPublish: %w", err)
	}
	if err := c.writeCommand(0, "createStream", txCreateStream, nil); err != nil {
		return fmt.Errorf("send createStream: %w", err)
	}
	res, err = c.waitCommand(func(cmd *command) bool {
		return cmd.tx == txCreateStream && (cmd.name == "_result" || cmd.name == "_error") ||
			isRefusal(cmd)
	})
	if err != nil {
		return c.closedErr(err, "during createStream (stream key refused?)")
	}
	if res.name != "_result" {
		return rejected("server refused createStream: %s", res.status())
	}
	id, ok := res.args[len(res.args)-1].(float64)
	if !ok || len(res.args) < 2 {
		return errors.New("createStream answer carries no stream id")
	}
	c.streamID = uint32(id)

	if err := c.writeCommand(c.streamID, "publish", txPublish, nil, t.key, "live"); err != nil {
		return fmt.Errorf("send publish: %w", err)
	}
	res, err = c.waitCommand(func(cmd *command) bool {
		return cmd.name == "onStatus" && (cmd.code() == "NetStream.Publish.Start" || cmd.level() == "error") ||
			isRefusal(cmd) || cmd.name == "_error" && cmd.tx == txPublish
	})
	if err != nil {
		return c.closedErr(err, "after the publish request, without confirming it (stream key refused?)")
	}
	if res.code() != "NetStream.Publish.Start" {
		return rejected("server refused the publish: %s", res.status())
	}
	return nil
}

// isRefusal tells an error status the server may send at any point, such as
// an onFCPublish or onStatus at level "error".
func isRefusal(cmd *command) bool {
	return (cmd.name == "onStatus" || cmd.name == "onFCPublish") && cmd.level() == "error"
}

// closedErr words a connection the server closed while we waited for an
// answer: nginx-rtmp and the big platforms refuse a key or an app that way,
// without a message.
func (c *conn) closedErr(err error, when string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) {
		return rejected("server closed the connection %s", when)
	}
	return err
}

// handshake is the plain (not digest) RTMP handshake, which every server
// accepts from a publisher: C0+C1, then S0+S1, C2 echoing S1, S2.
func (c *conn) handshake() error {
	c1 := make([]byte, 1+1536)
	c1[0] = 3 // RTMP version
	// C1: time (zero is fine), four zero bytes, then random filler.
	if _, err := rand.Read(c1[9:]); err != nil {
		return err
	}
	if _, err := c.nc.Write(c1); err != nil {
		return err
	}
	s := make([]byte, 1+1536)
	if _, err := io.ReadFull(c.br, s); err != nil {
		return fmt.Errorf("read S0+S1: %w", err)
	}
	if s[0] != 3 {
		return fmt.Errorf("server speaks RTMP version %d, not 3 (is this an RTMP port?)", s[0])
	}
	if _, err := c.nc.Write(s[1:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c.br, s[1:]); err != nil {
		return fmt.Errorf("read S2: %w", err)
	}
	return nil
}

// writeMessage writes one message as chunks. Every message starts with a
// full (type 0) header: it costs 11 bytes more than the compressed forms,
// nothing next to a video frame, and cannot go wrong across reconnects.
// The caller holds wmu.
func (c *conn) writeMessageLocked(csid byte, typ byte, streamID, ts uint32, payload []byte) error {
	ext := ts >= 0xffffff
	tsField := ts
	if ext {
		tsField = 0xffffff
	}
	h := c.hdr[:0]
	h = append(h, csid&0x3f,
		byte(tsField>>16), byte(tsField>>8), byte(tsField),
		byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)),
		typ)
	h = binary.LittleEndian.AppendUint32(h, streamID)
	if ext {
		h = binary.BigEndian.AppendUint32(h, ts)
	}
	c.hdr = h
	if _, err := c.bw.Write(h); err != nil {
		return err
	}
	chunk := int(c.chunkSize)
	for i := 0; i < len(payload); i += chunk {
		if i > 0 {
			// Type 3 continuation; the extended timestamp is repeated,
			// as nginx-rtmp and FFmpeg expect.
			if err := c.bw.WriteByte(0xc0 | csid&0x3f); err != nil {
				return err
			}
			if ext {
				if _, err := c.bw.Write(h[len(h)-4:]); err != nil {
					return err
				}
			}
		}
		end := min(i+chunk, len(payload))
		if _, err := c.bw.Write(payload[i:end]); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}

func (c *conn) writeControl(typ byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeMessageLocked(csControl, typ, 0, 0, payload)
}

func (c *conn) writeCommand(streamID uint32, name string, tx int, args ...any) error {
	b := amfEncode(nil, name, tx)
	b = amfEncode(b, args...)
	cs := byte(csCommand)
	if streamID != 0 {
		cs = csPublish
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeMessageLocked(cs, msgAMF0Command, streamID, 0, b)
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
	if err := c.writeMessageLocked(cs, typ, c.streamID, ts, payload); err != nil {
		c.fail(netErr(err))
		return c.deadErr()
	}
	return nil
}

// readMessage reads chunks until one message is complete.
func (c *conn) readMessage() (*message, error) {
	for {
		b0, err := c.br.ReadByte()
		if err != nil {
			return nil, err
		}
		fmtType := b0 >> 6
		csid := uint32(b0 & 0x3f)
		switch csid {
		case 0:
			b, err := c.br.ReadByte()
			if err != nil {
				return nil, err
			}
			csid = 64 + uint32(b)
		case 1:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			csid = 64 + uint32(b[0]) + uint32(b[1])<<8
		}
		st := c.chunks[csid]
		if st == nil {
			if fmtType != 0 {
				return nil, fmt.Errorf("chunk stream %d starts without a full header", csid)
			}
			st = &chunkState{}
			c.chunks[csid] = st
		}
		var h [11]byte
		hlen := [4]int{11, 7, 3, 0}[fmtType]
		if _, err := io.ReadFull(c.br, h[:hlen]); err != nil {
			return nil, err
		}
		starting := len(st.buf) == 0
		if fmtType < 3 {
			tsField := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
			st.extended = tsField == 0xffffff
			if fmtType <= 1 {
				st.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
				st.typ = h[6]
			}
			if fmtType == 0 {
				st.streamID = binary.LittleEndian.Uint32(h[7:11])
			}
			if st.extended {
				var e [4]byte
				if _, err := io.ReadFull(c.br, e[:]); err != nil {
					return nil, err
				}
				tsField = binary.BigEndian.Uint32(e[:])
			}
			if fmtType == 0 {
				st.ts, st.delta = tsField, 0
			} else {
				st.delta = tsField
				st.ts += tsField
			}
		} else {
			if st.extended {
				var e [4]byte
				if _, err := io.ReadFull(c.br, e[:]); err != nil {
					return nil, err
				}
			}
			if starting {
				st.ts += st.delta
			}
		}
		if st.length > maxInMessage {
			return nil, fmt.Errorf("server message of %d bytes is too large", st.length)
		}
		n := min(int(st.length)-len(st.buf), int(c.inChunk))
		start := len(st.buf)
		st.buf = append(st.buf, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, st.buf[start:]); err != nil {
			return nil, err
		}
		if err := c.maybeAck(); err != nil {
			return nil, err
		}
		if len(st.buf) < int(st.length) {
			continue
		}
		m := &message{typ: st.typ, streamID: st.streamID, ts: st.ts, payload: st.buf}
		st.buf = nil
		if err := c.handleControl(m); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// maybeAck acknowledges received bytes once a window's worth came in, as
// RTMP requires; a server may stop talking to a peer that never acks.
func (c *conn) maybeAck() error {
	if c.ackWindow == 0 || c.received-c.lastAck < uint64(c.ackWindow) {
		return nil
	}
	c.lastAck = c.received
	return c.writeControl(msgAck, binary.BigEndian.AppendUint32(nil, uint32(c.received)))
}

// handleControl applies protocol control messages to the reader state.
func (c *conn) handleControl(m *message) error {
	switch m.typ {
	case msgSetChunkSize:
		if len(m.payload) < 4 {
			return errors.New("short SetChunkSize")
		}
		size := binary.BigEndian.Uint32(m.payload) & 0x7fffffff
		if size < 1 {
			return errors.New("server set chunk size 0")
		}
		c.inChunk = size
	case msgAbort:
		if len(m.payload) >= 4 {
			if st := c.chunks[binary.BigEndian.Uint32(m.payload)]; st != nil {
				st.buf = nil
			}
		}
	case msgWindowAckSize:
		if len(m.payload) >= 4 {
			c.ackWindow = binary.BigEndian.Uint32(m.payload)
		}
	case msgUserControl:
		// Ping request (6): answer with a ping response (7) carrying the
		// same timestamp, or the server drops us as dead.
		if len(m.payload) >= 6 && binary.BigEndian.Uint16(m.payload) == 6 {
			resp := append([]byte{0, 7}, m.payload[2:6]...)
			return c.writeControl(msgUserControl, resp)
		}
	}
	return nil
}

// parseCommand decodes an AMF0 (or AMF3-wrapped AMF0) command message.
func parseCommand(m *message) (*command, error) {
	p := m.payload
	if m.typ == msgAMF3Command && len(p) > 0 {
		p = p[1:] // AMF3 command messages start with a zero byte, then AMF0.
	}
	vals, err := amfDecodeAll(p)
	if len(vals) == 0 {
		if err == nil {
			err = errors.New("empty")
		}
		return nil, fmt.Errorf("decode command: %w", err)
	}
	// A command is name, transaction id, command object, arguments; some
	// servers send bare notifications (FFmpeg: onFCPublish with a name only).
	name, _ := vals[0].(string)
	var tx float64
	if len(vals) > 1 {
		tx, _ = vals[1].(float64)
	} else {
		vals = append(vals, nil)
	}
	return &command{name: name, tx: tx, args: vals[2:]}, nil
}

// waitCommand reads until a command matching want arrives, skipping
// everything else (onBWDone, answers to releaseStream/FCPublish...).
func (c *conn) waitCommand(want func(*command) bool) (*command, error) {
	for {
		m, err := c.readMessage()
		if err != nil {
			return nil, err
		}
		if m.typ != msgAMF0Command && m.typ != msgAMF3Command {
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
		if m.typ != msgAMF0Command && m.typ != msgAMF3Command {
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
		_ = c.writeCommand(0, "FCUnpublish", txFCUnpublish, nil, t.key)
		_ = c.writeCommand(0, "deleteStream", txDeleteStream, nil, float64(c.streamID))
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
