package netfault

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// feed is the network side of a stream: packets sent on it are read, and
// closing it ends the stream with io.EOF.
type feed chan []byte

func (f feed) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	p, ok := <-f
	if !ok {
		return 0, a, io.EOF
	}
	return copy(b, p), a, nil
}

func rtpPacket(seq uint16) []byte {
	b := make([]byte, 20)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:4], seq)
	return b
}

func bind(t *testing.T, f Fault) (*Factory, feed, interceptor.RTPReader) {
	t.Helper()
	fa, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	i, err := fa.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	in := make(feed)
	r := i.BindRemoteStream(&interceptor.StreamInfo{MimeType: "video/VP8", ClockRate: 90000}, in)
	return fa, in, r
}

// readWithin reads one packet, failing the test if none comes within d.
func readWithin(t *testing.T, r interceptor.RTPReader, d time.Duration) (uint16, error) {
	t.Helper()
	type res struct {
		seq uint16
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, packetSize)
		n, _, err := r.Read(b, nil)
		if err != nil || n < 12 {
			ch <- res{err: err}
			return
		}
		ch <- res{seq: binary.BigEndian.Uint16(b[2:4])}
	}()
	select {
	case r := <-ch:
		return r.seq, r.err
	case <-time.After(d):
		t.Fatalf("no packet within %v", d)
		return 0, nil
	}
}

// TestStreamReleasesHeldPacketsWhenQuiet: the real reader path; packets
// held back for reordering on a stream that then goes quiet come out once
// MaxHold has passed, and the end of the stream is passed on.
func TestStreamReleasesHeldPacketsWhenQuiet(t *testing.T) {
	_, in, r := bind(t, Fault{Reorder: 1, ReorderDepth: 10, Jitter: 20 * time.Millisecond, Seed: 2})
	for i := range 3 {
		in <- rtpPacket(uint16(i))
	}
	got := map[uint16]bool{}
	for range 3 {
		seq, err := readWithin(t, r, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got[seq] = true
	}
	if len(got) != 3 {
		t.Fatalf("got packets %v, want 0, 1, 2", got)
	}
	close(in)
	if _, err := readWithin(t, r, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after the network side ended: %v, want io.EOF", err)
	}
}

func TestStreamShortBuffer(t *testing.T) {
	_, in, r := bind(t, Fault{})
	go func() { in <- rtpPacket(1) }()
	if _, _, err := r.Read(make([]byte, 4), nil); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("reading 20 bytes into 4: %v, want io.ErrShortBuffer", err)
	}
}

// rtcpFeed gives the same RTCP packet for ever.
type rtcpFeed struct{}

func (rtcpFeed) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(b, []byte{0x80, 200, 0, 6}), a, nil
}

func TestRTCPLossAndFeedbackCounts(t *testing.T) {
	fa, err := New(Fault{RTCPLoss: 0.2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	i, _ := fa.NewInterceptor("")
	r := i.BindRTCPReader(rtcpFeed{})
	b := make([]byte, 1500)
	const n = 5000
	for range n {
		if _, _, err := r.Read(b, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := fa.Stats()
	if got := float64(st.RTCPDropped) / float64(st.RTCPReceived); st.RTCPReceived-st.RTCPDropped != n || math.Abs(got-0.2) > 0.03 {
		t.Errorf("RTCP: %d received, %d dropped (%.3f), want %d passed and about 20%% dropped", st.RTCPReceived, st.RTCPDropped, got, n)
	}

	w := i.BindRTCPWriter(interceptor.RTCPWriterFunc(func(p []rtcp.Packet, _ interceptor.Attributes) (int, error) { return len(p), nil }))
	if _, err := w.Write([]rtcp.Packet{
		&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 10, LostPackets: 0b101}}},
		&rtcp.PictureLossIndication{}, &rtcp.FullIntraRequest{},
	}, nil); err != nil {
		t.Fatal(err)
	}
	st = fa.Stats()
	if st.NACKs != 1 || st.NACKedPackets != 3 || st.PLIs != 1 || st.FIRs != 1 {
		t.Errorf("feedback counted %+v, want 1 NACK of 3 packets, 1 PLI, 1 FIR", st)
	}
}
