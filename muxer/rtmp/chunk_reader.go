package rtmp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// chunkStream is what the reader remembers per chunk stream to decode the
// compressed headers (types 1-3) that follow a full one.
type chunkStream struct {
	ts, delta uint32
	length    uint32
	typ       byte
	streamID  uint32
	extended  bool
	buf       []byte // the message being reassembled
}

// chunkReader reassembles the messages a peer sends as chunks. It applies
// the chunk layer's own control messages (SetChunkSize, Abort, Window
// Acknowledgement Size) as it reads them, and still returns them.
type chunkReader struct {
	br        *bufio.Reader
	chunkSize uint32 // the peer's, set by its SetChunkSize
	streams   map[uint32]*chunkStream

	// Acknowledgements: the peer asks for one every ackWindow bytes.
	// received counts every byte read through the reader, the handshake's
	// included, as the spec counts them.
	received  uint64
	ackWindow uint32
	lastAck   uint64
	// ack sends an acknowledgement of seq bytes; nil sends none.
	ack func(seq uint32) error
}

// newChunkReader reads chunks from r. ack, if not nil, is called once a
// window's worth of bytes has come in.
func newChunkReader(r io.Reader, ack func(seq uint32) error) *chunkReader {
	cr := &chunkReader{
		chunkSize: defaultChunkSize,
		streams:   map[uint32]*chunkStream{},
		ack:       ack,
	}
	cr.br = bufio.NewReader(countingReader{r: r, n: &cr.received})
	return cr
}

// Read reads bytes that are not chunks (the handshake) through the same
// buffer and byte count.
func (r *chunkReader) Read(p []byte) (int, error) { return r.br.Read(p) }

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

// readMessage reads chunks until one message is complete. Every message it
// returns has exactly the length its header declared.
func (r *chunkReader) readMessage() (*message, error) {
	for {
		b0, err := r.br.ReadByte()
		if err != nil {
			return nil, err
		}
		fmtType := b0 >> 6
		csid := uint32(b0 & 0x3f)
		switch csid {
		case 0:
			b, err := r.br.ReadByte()
			if err != nil {
				return nil, err
			}
			csid = 64 + uint32(b)
		case 1:
			var b [2]byte
			if _, err := io.ReadFull(r.br, b[:]); err != nil {
				return nil, err
			}
			csid = 64 + uint32(b[0]) + uint32(b[1])<<8
		}
		st := r.streams[csid]
		if st == nil {
			if fmtType != 0 {
				return nil, fmt.Errorf("chunk stream %d starts without a full header", csid)
			}
			if len(r.streams) >= maxInChunkStreams {
				return nil, fmt.Errorf("server opened more than %d chunk streams", maxInChunkStreams)
			}
			st = &chunkStream{}
			r.streams[csid] = st
		}
		var h [11]byte
		hlen := [4]int{11, 7, 3, 0}[fmtType]
		if _, err := io.ReadFull(r.br, h[:hlen]); err != nil {
			return nil, err
		}
		starting := len(st.buf) == 0
		if fmtType < 3 {
			if !starting {
				// A new header before the message ended would give the
				// message a second length; only continuations may follow.
				return nil, fmt.Errorf("chunk stream %d: type %d header in the middle of a message", csid, fmtType)
			}
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
				if _, err := io.ReadFull(r.br, e[:]); err != nil {
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
				if _, err := io.ReadFull(r.br, e[:]); err != nil {
					return nil, err
				}
			}
			if starting {
				st.ts += st.delta
			}
		}
		if st.length > maxInMessage {
			return nil, fmt.Errorf("server message of %d bytes is too large (limit %d)", st.length, maxInMessage)
		}
		n := min(int(st.length)-len(st.buf), int(r.chunkSize))
		start := len(st.buf)
		st.buf = append(st.buf, make([]byte, n)...)
		if _, err := io.ReadFull(r.br, st.buf[start:]); err != nil {
			return nil, err
		}
		if err := r.maybeAck(); err != nil {
			return nil, err
		}
		if len(st.buf) < int(st.length) {
			continue
		}
		m := &message{csid: csid, typ: st.typ, streamID: st.streamID, ts: st.ts, payload: st.buf}
		st.buf = nil
		if err := r.apply(m); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// maybeAck acknowledges received bytes once a window's worth came in, as
// RTMP requires; a server may stop talking to a peer that never acks.
func (r *chunkReader) maybeAck() error {
	if r.ackWindow == 0 || r.received-r.lastAck < uint64(r.ackWindow) {
		return nil
	}
	r.lastAck = r.received
	if r.ack == nil {
		return nil
	}
	return r.ack(uint32(r.received))
}

// apply applies the chunk layer's control messages to the reader state.
func (r *chunkReader) apply(m *message) error {
	switch m.typ {
	case msgSetChunkSize:
		if len(m.payload) < 4 {
			return errors.New("short SetChunkSize")
		}
		size := binary.BigEndian.Uint32(m.payload) & 0x7fffffff
		if size < 1 {
			return errors.New("server set chunk size 0")
		}
		r.chunkSize = size
	case msgAbort:
		if len(m.payload) >= 4 {
			if st := r.streams[binary.BigEndian.Uint32(m.payload)]; st != nil {
				st.buf = nil
			}
		}
	case msgWindowAckSize:
		if len(m.payload) >= 4 {
			r.ackWindow = binary.BigEndian.Uint32(m.payload)
		}
	}
	return nil
}
