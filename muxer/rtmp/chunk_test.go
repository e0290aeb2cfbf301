package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// TestChunkRoundTrip writes messages through the chunk writer and reads
// them back through the chunk reader of a connection: multi-chunk payloads,
// a chunk size change, and extended timestamps (past 4.66 hours).
func TestChunkRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w, r := newTestConn(a), newTestConn(b)
	big := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 3000)
	msgs := []message{
		{typ: msgAMF0Command, ts: 0, payload: amfEncode(nil, "connect", 1, amfObj{{"app", "live"}})},
		{typ: msgVideo, streamID: 1, ts: 33, payload: big},
		{typ: msgAudio, streamID: 1, ts: 0xfffffe, payload: big[:300]},
		{typ: msgVideo, streamID: 1, ts: 0x1234567, payload: big},
		{typ: msgAudio, streamID: 1, ts: 0x1234568, payload: []byte{0xaf, 1}},
	}
	go func() {
		for i, m := range msgs {
			if i == 2 {
				_ = w.writeControl(msgSetChunkSize, []byte{0, 0, 0x10, 0})
				w.w.chunkSize = 4096
			}
			w.wmu.Lock()
			_ = w.w.writeMessage(csVideo, m.typ, m.streamID, m.ts, m.payload)
			w.wmu.Unlock()
		}
	}()
	for i, want := range msgs {
		got, err := r.readMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got.typ == msgSetChunkSize {
			if got, err = r.readMessage(); err != nil {
				t.Fatal(err)
			}
		}
		if got.typ != want.typ || got.ts != want.ts || got.streamID != want.streamID || !bytes.Equal(got.payload, want.payload) {
			t.Errorf("message %d: got type %d ts %#x stream %d len %d, want type %d ts %#x stream %d len %d",
				i, got.typ, got.ts, got.streamID, len(got.payload), want.typ, want.ts, want.streamID, len(want.payload))
		}
	}
	if r.r.chunkSize != 4096 {
		t.Errorf("reader chunk size %d after SetChunkSize", r.r.chunkSize)
	}
}

// outMessage is a message as the writer is given it.
type outMessage struct {
	csid     byte
	typ      byte
	streamID uint32
	ts       uint32
	payload  []byte
}

// TestChunkWriterReader runs the chunk writer into the chunk reader over a
// buffer, for several chunk sizes, timestamps on both sides of the extended
// timestamp threshold, and messages of several chunk streams interleaved.
func TestChunkWriterReader(t *testing.T) {
	t.Parallel()
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>8)
		}
		return b
	}
	interleaved := []outMessage{
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 0, payload: pattern(10000)},
		{csid: csAudio, typ: msgAudio, streamID: 1, ts: 0, payload: pattern(300)},
		{csid: csData, typ: msgAMF0Data, streamID: 1, ts: 0, payload: metadataForTest()},
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 33, payload: pattern(129)},
		{csid: csAudio, typ: msgAudio, streamID: 1, ts: 21, payload: pattern(128)},
		{csid: csCommand, typ: msgAMF0Command, ts: 0, payload: appendCommand(nil, "FCUnpublish", txFCUnpublish, nil, "key")},
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 66, payload: nil},
	}
	extended := []outMessage{
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 0xfffffe, payload: pattern(5000)},
		{csid: csAudio, typ: msgAudio, streamID: 1, ts: 0xffffff, payload: pattern(5000)},
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 0x1000000, payload: pattern(1)},
		{csid: csVideo, typ: msgVideo, streamID: 1, ts: 0xffffffff, payload: pattern(9000)},
		{csid: 63, typ: msgVideo, streamID: 7, ts: 0x7fffffff, payload: pattern(4097)},
	}
	tests := []struct {
		name      string
		chunkSize uint32
		msgs      []outMessage
	}{
		{"default chunk size, interleaved", 128, interleaved},
		{"chunk size 1", 1, interleaved},
		{"chunk size 4096, interleaved", 4096, interleaved},
		{"chunk size larger than every message", 1 << 20, interleaved},
		{"extended timestamps, chunk size 128", 128, extended},
		{"extended timestamps, chunk size 4096", 4096, extended},
		{"extended timestamps, chunk size 1000", 1000, extended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := newChunkWriter(&buf, 64)
			// The reader learns the chunk size the way a server does.
			if err := w.writeMessage(csControl, msgSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, tt.chunkSize)); err != nil {
				t.Fatal(err)
			}
			w.chunkSize = tt.chunkSize
			for _, m := range tt.msgs {
				if err := w.writeMessage(m.csid, m.typ, m.streamID, m.ts, m.payload); err != nil {
					t.Fatal(err)
				}
			}
			r := newChunkReader(&buf, nil)
			if m, err := r.readMessage(); err != nil || m.typ != msgSetChunkSize {
				t.Fatalf("SetChunkSize: %v, %v", m, err)
			}
			if r.chunkSize != tt.chunkSize {
				t.Fatalf("reader chunk size %d, want %d", r.chunkSize, tt.chunkSize)
			}
			for i, want := range tt.msgs {
				got, err := r.readMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if got.csid != uint32(want.csid) || got.typ != want.typ || got.ts != want.ts ||
					got.streamID != want.streamID || !bytes.Equal(got.payload, want.payload) {
					t.Errorf("message %d: got csid %d type %d ts %#x stream %d len %d, want csid %d type %d ts %#x stream %d len %d",
						i, got.csid, got.typ, got.ts, got.streamID, len(got.payload),
						want.csid, want.typ, want.ts, want.streamID, len(want.payload))
				}
			}
			if _, err := r.readMessage(); !errors.Is(err, io.EOF) {
				t.Errorf("after the last message: %v, want EOF", err)
			}
		})
	}
}

func metadataForTest() []byte {
	return amfEncode(nil, "@setDataFrame", "onMetaData", amfECMA{{"width", 1280}, {"height", 720}})
}

// TestChunkReaderHeaders reads the compressed header types (1, 2, 3) a
// server may send, which our writer never does, and the hostile inputs the
// reader must refuse.
func TestChunkReaderHeaders(t *testing.T) {
	t.Parallel()
	full := func(csid byte, ts, length uint32, typ byte, stream uint32) []byte {
		b := []byte{csid, byte(ts >> 16), byte(ts >> 8), byte(ts), byte(length >> 16), byte(length >> 8), byte(length), typ}
		return binary.LittleEndian.AppendUint32(b, stream)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		in      []byte
		want    []message // csid, typ, streamID, ts, len(payload) compared
		wantErr string
	}{
		{
			name: "type 1 and type 2 deltas, type 3 repeats the delta",
			in: cat(full(3, 100, 2, msgAMF0Command, 0), []byte{5, 0},
				[]byte{0x40 | 3, 0, 0, 10, 0, 0, 3, msgAMF0Command}, []byte{5, 0, 0},
				[]byte{0x80 | 3, 0, 0, 20}, []byte{5, 0, 0},
				[]byte{0xc0 | 3}, []byte{5, 0, 0}),
			want: []message{{csid: 3, typ: msgAMF0Command, ts: 100, payload: []byte{5, 0}},
				{csid: 3, typ: msgAMF0Command, ts: 110, payload: []byte{5, 0, 0}},
				{csid: 3, typ: msgAMF0Command, ts: 130, payload: []byte{5, 0, 0}},
				{csid: 3, typ: msgAMF0Command, ts: 150, payload: []byte{5, 0, 0}}},
		},
		{
			name: "two-byte and three-byte chunk stream ids",
			in: cat([]byte{0, 200 - 64}, full(0, 1, 1, msgAudio, 1)[1:], []byte{9},
				[]byte{1}, []byte{0x10, 0x01}, full(0, 2, 1, msgVideo, 1)[1:], []byte{8}),
			want: []message{{csid: 200, typ: msgAudio, streamID: 1, ts: 1, payload: []byte{9}},
				{csid: 64 + 0x10 + 0x100, typ: msgVideo, streamID: 1, ts: 2, payload: []byte{8}}},
		},
		{
			name: "abort drops a partial message",
			in: cat(full(4, 0, 200, msgAudio, 1), make([]byte, 128),
				full(2, 0, 4, msgAbort, 0), []byte{0, 0, 0, 4},
				full(4, 0, 1, msgAudio, 1), []byte{7}),
			want: []message{{csid: 2, typ: msgAbort, payload: []byte{0, 0, 0, 4}},
				{csid: 4, typ: msgAudio, streamID: 1, payload: []byte{7}}},
		},
		{
			name:    "continuation on a new chunk stream",
			in:      []byte{0xc0 | 5, 1, 2, 3},
			wantErr: "starts without a full header",
		},
		{
			name:    "message over the limit",
			in:      full(3, 0, maxInMessage+1, msgAMF0Command, 0),
			wantErr: "too large",
		},
		{
			name:    "new header in the middle of a message",
			in:      cat(full(3, 0, 300, msgAMF0Command, 0), make([]byte, 128), []byte{0x40 | 3, 0, 0, 0, 0, 0, 1, msgAMF0Command}),
			wantErr: "in the middle of a message",
		},
		{
			name:    "chunk size 0",
			in:      cat(full(2, 0, 4, msgSetChunkSize, 0), []byte{0x80, 0, 0, 0}),
			wantErr: "chunk size 0",
		},
		{
			name:    "short SetChunkSize",
			in:      cat(full(2, 0, 3, msgSetChunkSize, 0), []byte{0, 0, 1}),
			wantErr: "short SetChunkSize",
		},
		{
			name: "too many chunk streams",
			in: func() []byte {
				var b []byte
				for i := range maxInChunkStreams + 1 {
					b = append(b, 1, byte(i), 0)
					b = append(b, full(0, 0, 0, msgAudio, 1)[1:]...)
				}
				return b
			}(),
			wantErr: "more than 64 chunk streams",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newChunkReader(bytes.NewReader(tt.in), nil)
			var got []*message
			var err error
			for {
				var m *message
				if m, err = r.readMessage(); err != nil {
					break
				}
				got = append(got, m)
			}
			if tt.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Errorf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if !errors.Is(err, io.EOF) {
				t.Errorf("error %v, want EOF after the messages", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.csid != w.csid || g.typ != w.typ || g.streamID != w.streamID || g.ts != w.ts || !bytes.Equal(g.payload, w.payload) {
					t.Errorf("message %d: got %+v, want %+v", i, *g, w)
				}
			}
		})
	}
}

// TestChunkReaderAcks checks the acknowledgement bookkeeping: one ack per
// window, counting the bytes read before the chunks (the handshake) too.
func TestChunkReaderAcks(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	buf.Write(make([]byte, 100)) // stands in for S0+S1+S2
	w := newChunkWriter(&buf, 64)
	_ = w.writeMessage(csControl, msgWindowAckSize, 0, 0, binary.BigEndian.AppendUint32(nil, 1000))
	for range 10 {
		_ = w.writeMessage(csVideo, msgVideo, 1, 0, make([]byte, 300))
	}
	var acks []uint32
	// One byte per read: the count then follows what was consumed, where a
	// socket's reads would come in packets.
	r := newChunkReader(iotest.OneByteReader(&buf), func(seq uint32) error { acks = append(acks, seq); return nil })
	if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.readMessage(); err != nil {
			break
		}
	}
	if r.received != uint64(100+16+10*(12+300+2)) {
		t.Errorf("received %d bytes", r.received)
	}
	if len(acks) != 3 {
		t.Fatalf("acks %v, want 3", acks)
	}
	for i := 1; i < len(acks); i++ {
		if acks[i]-acks[i-1] < 1000 {
			t.Errorf("acks %v closer than the window", acks)
		}
	}
}

// FuzzChunkReader feeds arbitrary bytes to the chunk reader. It must not
// panic, must stay within its limits (message size, chunk streams), and
// every message it returns must have the length its header declared.
func FuzzChunkReader(f *testing.F) {
	var buf bytes.Buffer
	w := newChunkWriter(&buf, 64)
	_ = w.writeMessage(csControl, msgWindowAckSize, 0, 0, binary.BigEndian.AppendUint32(nil, 100))
	_ = w.writeMessage(csCommand, msgAMF0Command, 0, 0, appendCommand(nil, "_result", txConnect,
		amfObj{{"fmsVer", "FMS/3,0,1,123"}}, amfObj{{"level", "status"}, {"code", "NetConnection.Connect.Success"}}))
	_ = w.writeMessage(csControl, msgSetChunkSize, 0, 0, []byte{0, 0, 0, 200})
	w.chunkSize = 200
	_ = w.writeMessage(csPublish, msgAMF0Command, 1, 0, appendCommand(nil, "onStatus", 0, nil,
		amfObj{{"level", "status"}, {"code", "NetStream.Publish.Start"}, {"description", "go"}}))
	_ = w.writeMessage(csVideo, msgVideo, 1, 0x1000000, make([]byte, 500))
	_ = w.writeMessage(csControl, msgUserControl, 0, 0, []byte{0, 6, 0, 0, 0, 9})
	f.Add(buf.Bytes())
	f.Add([]byte{3, 0, 0, 100, 0, 0, 2, 20, 0, 0, 0, 0, 5, 0, 0x43, 0, 0, 10, 0, 0, 3, 20, 5, 0, 0, 0x83, 0, 0, 20, 5, 0, 0, 0xc3, 5, 0, 0})
	f.Add([]byte{0, 200, 0xff, 0xff, 0xff, 0, 0, 1, 8, 1, 0, 0, 0, 1, 2, 3, 4, 9, 0xc0, 200})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 4, 0, 0, 0, 0x0f, 0xff, 0xff, 8, 1, 0, 0, 0})

	f.Fuzz(func(t *testing.T, data []byte) {
		var lastAck uint32
		r := newChunkReader(bytes.NewReader(data), func(seq uint32) error {
			if seq < lastAck {
				t.Errorf("ack %d after ack %d", seq, lastAck)
			}
			lastAck = seq
			return nil
		})
		for {
			m, err := r.readMessage()
			if len(r.streams) > maxInChunkStreams {
				t.Fatalf("%d chunk streams, limit %d", len(r.streams), maxInChunkStreams)
			}
			buffered := 0
			for _, st := range r.streams {
				buffered += len(st.buf)
			}
			if err != nil {
				// The chunk that failed may hold room for bytes that never
				// came, but no more than one message's worth.
				if buffered > int(r.received)+maxInMessage {
					t.Fatalf("%d bytes buffered after reading %d", buffered, r.received)
				}
				return
			}
			// Partial messages hold only bytes that were read.
			if buffered > int(r.received) {
				t.Fatalf("%d bytes buffered after reading %d", buffered, r.received)
			}
			st := r.streams[m.csid]
			if st == nil {
				t.Fatalf("message on chunk stream %d the reader does not know", m.csid)
			}
			if len(m.payload) != int(st.length) || len(m.payload) > maxInMessage {
				t.Fatalf("message of %d bytes, header declared %d", len(m.payload), st.length)
			}
			if r.chunkSize < 1 {
				t.Fatalf("chunk size %d", r.chunkSize)
			}
			if r.received > uint64(len(data)) {
				t.Fatalf("counted %d bytes of %d", r.received, len(data))
			}
		}
	})
}

// BenchmarkChunkWriterVideo writes one 30 KB video message (a 720p frame at
// a few Mbit/s) as 4096-byte chunks: the per-packet path of the sink.
func BenchmarkChunkWriterVideo(b *testing.B) {
	payload := make([]byte, 30000)
	w := newChunkWriter(io.Discard, outChunkSize+64)
	w.chunkSize = outChunkSize
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := w.writeMessage(csVideo, msgVideo, 1, uint32(i*33), payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnWriteVideo is one video packet from the sink to the socket:
// Annex-B split, FLV body, chunks, written to a loopback TCP connection
// whose other end drains it.
func BenchmarkConnWriteVideo(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_, _ = io.Copy(io.Discard, nc)
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c := newTestConn(nc)
	defer c.fail(errors.New("done"))
	c.w.chunkSize = outChunkSize
	c.streamID = 1
	data := benchAccessUnit()
	var au h264.AnnexB
	var buf []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if au, err = splitAnnexB(data, au); err != nil {
			b.Fatal(err)
		}
		buf = appendAVCVideo(buf[:0], true, 0, au)
		if err := c.writeMedia(msgVideo, uint32(i*33), buf); err != nil {
			b.Fatal(err)
		}
	}
}
