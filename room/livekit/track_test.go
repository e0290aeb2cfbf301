package livekit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/room"
)

// readStep is one result of the SDK receiver's Read: the bytes it put in
// the buffer and its error.
type readStep struct {
	pkt []byte
	err error
}

// scriptedReader plays readSteps in order, as *webrtc.TrackRemote would
// return them, then io.EOF. It stands in for the receiver only where the
// real one cannot be made to misbehave on cue; the tests against
// livekit-server read real tracks.
type scriptedReader struct {
	steps    []readStep
	i        int
	deadline bool
}

func (s *scriptedReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if s.deadline {
		return 0, nil, os.ErrDeadlineExceeded
	}
	if s.i >= len(s.steps) {
		return 0, nil, io.EOF
	}
	st := s.steps[s.i]
	s.i++
	return copy(b, st.pkt), nil, st.err
}

func (s *scriptedReader) SetReadDeadline(time.Time) error {
	s.deadline = true
	return nil
}

func scriptedTrack(r rtpReader) *track {
	return &track{info: room.TrackInfo{ID: "TR_test", Kind: room.KindVideo}, rtp: r, done: make(chan struct{})}
}

func testPacket(t testing.TB, seq uint16) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 1}, Payload: []byte{1, 2, 3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// timeoutError is a deadline's error as net-like readers give it.
type timeoutError struct{}

func (timeoutError) Error() string { return "i/o timeout" }
func (timeoutError) Timeout() bool { return true }

func TestTrackRead(t *testing.T) {
	pkt, pkt2 := testPacket(t, 1), testPacket(t, 2)
	refused := errors.New("rtp: header size insufficient")
	persistent := make([]readStep, maxReadErrors)
	for i := range persistent {
		persistent[i] = readStep{err: refused}
	}
	type result struct {
		pkt []byte
		err error // errors.Is
	}
	tests := []struct {
		name  string
		steps []readStep
		want  []result
	}{
		{"packets", []readStep{{pkt: pkt}, {pkt: pkt2}},
			[]result{{pkt: pkt}, {pkt: pkt2}, {err: io.EOF}}},
		{"a packet the receiver complains about is the reader's to judge",
			[]readStep{{pkt: pkt, err: errors.New("payloadtype not found")}, {pkt: pkt2}},
			[]result{{pkt: pkt}, {pkt: pkt2}}},
		{"a packet too short to be RTP is passed on too",
			[]readStep{{pkt: []byte{0x80}, err: errors.New("rtp packet too short")}, {pkt: pkt2}},
			[]result{{pkt: []byte{0x80}}, {pkt: pkt2}}},
		{"a read that yields no packet is skipped",
			[]readStep{{err: refused}, {err: refused}, {pkt: pkt}},
			[]result{{pkt: pkt}, {err: io.EOF}}},
		{"a short buffer is the caller's to fix, and the track goes on",
			[]readStep{{err: io.ErrShortBuffer}, {pkt: pkt}},
			[]result{{err: io.ErrShortBuffer}, {pkt: pkt}}},
		{"EOF ends the track",
			[]readStep{{err: io.EOF}, {pkt: pkt}},
			[]result{{err: io.EOF}, {err: io.EOF}}},
		{"a closed receiver ends the track",
			[]readStep{{err: fmt.Errorf("srtp: %w", io.ErrClosedPipe)}, {pkt: pkt}},
			[]result{{err: io.EOF}, {err: io.EOF}}},
		{"a deadline ends the track",
			[]readStep{{err: fmt.Errorf("read: %w", timeoutError{})}, {pkt: pkt}},
			[]result{{err: io.EOF}, {err: io.EOF}}},
		{"an error that persists gives up, keeping its cause",
			append(persistent, readStep{pkt: pkt}),
			[]result{{err: refused}, {err: io.EOF}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := scriptedTrack(&scriptedReader{steps: tc.steps})
			b := make([]byte, room.MaxPacketSize)
			for i, want := range tc.want {
				n, err := tr.Read(b)
				if want.err != nil {
					if !errors.Is(err, want.err) || n != 0 {
						t.Fatalf("read %d = %d, %v; want 0, %v", i, n, err, want.err)
					}
					continue
				}
				if err != nil || string(b[:n]) != string(want.pkt) {
					t.Fatalf("read %d = % x, %v; want % x", i, b[:n], err, want.pkt)
				}
			}
		})
	}

	t.Run("an ended track reads EOF and wakes a blocked reader", func(t *testing.T) {
		sr := &scriptedReader{steps: []readStep{{pkt: pkt}}}
		tr := scriptedTrack(sr)
		tr.end()
		if !sr.deadline {
			t.Fatal("end set no read deadline")
		}
		if n, err := tr.Read(make([]byte, room.MaxPacketSize)); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("Read = %d, %v; want io.EOF", n, err)
		}
		if sr.i != 0 {
			t.Fatal("Read read the receiver after the end")
		}
	})
}

// loopReader returns the same packet forever, preceded by a read that
// yields none every other time when bad is set.
type loopReader struct {
	pkt []byte
	bad bool
	odd bool
}

func (l *loopReader) Read(b []byte) (int, interceptor.Attributes, error) {
	if l.bad {
		l.odd = !l.odd
		if l.odd {
			return 0, nil, io.ErrUnexpectedEOF
		}
	}
	return copy(b, l.pkt), nil, nil
}

func (l *loopReader) SetReadDeadline(time.Time) error { return nil }

// TestTrackReadAllocs checks that the per-packet path allocates nothing, bad
// packets included.
func TestTrackReadAllocs(t *testing.T) {
	for _, bad := range []bool{false, true} {
		tr := scriptedTrack(&loopReader{pkt: testPacket(t, 1), bad: bad})
		b := make([]byte, room.MaxPacketSize)
		if a := testing.AllocsPerRun(1000, func() {
			if _, err := tr.Read(b); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("Read (bad packets: %t) allocates %.1f times per packet, want 0", bad, a)
		}
	}
}

func BenchmarkTrackRead(b *testing.B) {
	for _, bad := range []bool{false, true} {
		b.Run(fmt.Sprintf("bad=%t", bad), func(b *testing.B) {
			tr := scriptedTrack(&loopReader{pkt: testPacket(b, 1), bad: bad})
			buf := make([]byte, room.MaxPacketSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
