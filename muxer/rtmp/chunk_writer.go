package rtmp

import (
	"bufio"
	"encoding/binary"
	"io"
)

// chunkWriter cuts messages into chunks of the size the peer expects. It is
// not safe for concurrent use; conn serializes its writers.
type chunkWriter struct {
	bw        *bufio.Writer
	hdr       []byte // reused for every message header
	chunkSize uint32 // what the peer expects from us, set by our SetChunkSize
}

// newChunkWriter writes chunks to w through a buffer of bufSize bytes; a
// buffer a little larger than the chunk size sends each chunk in one write.
func newChunkWriter(w io.Writer, bufSize int) *chunkWriter {
	return &chunkWriter{
		bw:        bufio.NewWriterSize(w, bufSize),
		hdr:       make([]byte, 0, 16),
		chunkSize: defaultChunkSize,
	}
}

// writeMessage writes one message as chunks and flushes them. Every message
// starts with a full (type 0) header: it costs 11 bytes more than the
// compressed forms, nothing next to a video frame, and cannot go wrong
// across reconnects.
func (w *chunkWriter) writeMessage(csid byte, typ byte, streamID, ts uint32, payload []byte) error {
	ext := ts >= 0xffffff
	tsField := ts
	if ext {
		tsField = 0xffffff
	}
	h := w.hdr[:0]
	h = append(h, csid&0x3f,
		byte(tsField>>16), byte(tsField>>8), byte(tsField),
		byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)),
		typ)
	h = binary.LittleEndian.AppendUint32(h, streamID)
	if ext {
		h = binary.BigEndian.AppendUint32(h, ts)
	}
	w.hdr = h
	if _, err := w.bw.Write(h); err != nil {
		return err
	}
	chunk := int(w.chunkSize)
	for i := 0; i < len(payload); i += chunk {
		if i > 0 {
			// Type 3 continuation; the extended timestamp is repeated,
			// as nginx-rtmp and FFmpeg expect.
			if err := w.bw.WriteByte(0xc0 | csid&0x3f); err != nil {
				return err
			}
			if ext {
				if _, err := w.bw.Write(h[len(h)-4:]); err != nil {
					return err
				}
			}
		}
		end := min(i+chunk, len(payload))
		if _, err := w.bw.Write(payload[i:end]); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}
