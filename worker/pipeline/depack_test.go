package pipeline

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"
)

// depackAll runs payloads through d as one frame.
func depackAll(d depacketizer, payloads [][]byte) ([]byte, error) {
	d.reset()
	var frame []byte
	for _, p := range payloads {
		var err error
		if frame, err = d.append(frame, p); err != nil {
			return frame, err
		}
	}
	return frame, nil
}

func TestH264Depacketizer(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0x65}, bytes.Repeat([]byte{0xab}, 10)...)
	slice := []byte{0x41, 0x9a, 0x02}
	annexB := func(nals ...[]byte) []byte {
		var b []byte
		for _, n := range nals {
			b = append(append(b, 0, 0, 0, 1), n...)
		}
		return b
	}
	stap := []byte{24, 0, 4}
	stap = append(stap, sps...)
	stap = append(stap, 0, 4)
	stap = append(stap, pps...)
	fu := func(start, end bool, hdrNAL byte, data []byte) []byte {
		b := []byte{hdrNAL&0xe0 | 28, hdrNAL & 0x1f}
		if start {
			b[1] |= 0x80
		}
		if end {
			b[1] |= 0x40
		}
		return append(b, data...)
	}
	tests := []struct {
		name     string
		payloads [][]byte
		want     []byte
		key      bool
		wantErr  bool
		complete bool
	}{
		{"single NAL", [][]byte{slice}, annexB(slice), false, false, true},
		{"STAP-A then IDR", [][]byte{stap, idr}, annexB(sps, pps, idr), true, false, true},
		{"FU-A", [][]byte{fu(true, false, 0x65, idr[1:4]), fu(false, false, 0x65, idr[4:8]), fu(false, true, 0x65, idr[8:])}, annexB(idr), true, false, true},
		{"FU-A unfinished", [][]byte{fu(true, false, 0x65, idr[1:4])}, nil, true, false, false},
		{"FU-A without start", [][]byte{fu(false, true, 0x65, idr[1:4])}, nil, false, true, false},
		{"NAL inside FU-A", [][]byte{fu(true, false, 0x65, idr[1:4]), slice}, nil, true, true, false},
		{"STAP-A overrun", [][]byte{{24, 0, 9, 0x67}}, nil, false, true, false},
		{"FU-B unsupported", [][]byte{{29, 0x85, 1}}, nil, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &h264Depacketizer{}
			got, err := depackAll(d, tc.payloads)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Errorf("got % x\nwant % x", got, tc.want)
			}
			if d.keyframe() != tc.key {
				t.Errorf("keyframe = %v, want %v", d.keyframe(), tc.key)
			}
			if d.complete() != tc.complete {
				t.Errorf("complete = %v, want %v", d.complete(), tc.complete)
			}
		})
	}
	d := &h264Depacketizer{}
	if _, err := depackAll(d, [][]byte{stap}); err != nil || !d.paramsOnly() || d.keyframe() {
		t.Errorf("SPS/PPS alone: err %v, paramsOnly %v, keyframe %v", err, d.paramsOnly(), d.keyframe())
	}
	if _, err := depackAll(d, [][]byte{stap, idr}); err != nil || d.paramsOnly() || !d.keyframe() {
		t.Errorf("SPS/PPS and IDR: err %v, paramsOnly %v, keyframe %v", err, d.paramsOnly(), d.keyframe())
	}
	for _, tc := range []struct {
		p    []byte
		head bool
	}{{slice, true}, {stap, true}, {fu(true, false, 0x65, idr), true}, {fu(false, false, 0x65, idr), false}, {nil, false}} {
		if got := d.isHead(tc.p); got != tc.head {
			t.Errorf("isHead(% x) = %v, want %v", tc.p, got, tc.head)
		}
	}
}

// av1OBU builds an OBU with obu_has_size_field set, as an encoder writes a
// temporal unit.
func av1OBU(typ byte, ext bool, body []byte) []byte {
	h := typ<<3 | 0x02
	b := []byte{h}
	if ext {
		b[0] |= 0x04
		b = append(b, 0x28) // temporal_id 1, spatial_id 1
	}
	b = appendLeb128(b, uint(len(body)))
	return append(b, body...)
}

func TestAV1DepacketizerRoundTrip(t *testing.T) {
	seqHdr := av1OBU(av1OBUSequenceHeader, false, []byte{0x00, 0x00, 0x00, 0x02, 0xaf, 0xff, 0x9b, 0x5f, 0x30, 0x08})
	big := make([]byte, 3000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	frameKey := av1OBU(6, false, big)
	frameSmall := av1OBU(6, true, big[:40])
	meta := av1OBU(5, false, []byte{1, 2, 3})
	td := []byte{0x12, 0x00}
	tests := []struct {
		name string
		mtu  uint16
		tu   []byte // temporal unit as the encoder wrote it
		key  bool
	}{
		{"keyframe fragmented", 1200, concat(td, seqHdr, frameKey), true},
		{"keyframe tiny MTU", 17, concat(td, seqHdr, frameKey), true},
		{"aggregated small OBUs", 1200, concat(td, meta, frameSmall), false},
		{"extension header fragmented", 20, concat(td, meta, frameSmall), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payloads := (&codecs.AV1Payloader{}).Payload(tc.mtu, tc.tu)
			if len(payloads) == 0 {
				t.Fatal("payloader gave nothing")
			}
			d := &av1Depacketizer{}
			if !d.isHead(payloads[0]) {
				t.Error("first payload is not a head")
			}
			if len(payloads) > 1 && tc.mtu < 100 && d.isHead(payloads[1]) {
				t.Error("continuation payload taken for a head")
			}
			got, err := depackAll(d, payloads)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.tu) {
				t.Errorf("temporal unit differs:\n got % x\nwant % x", head(got), head(tc.tu))
			}
			if d.keyframe() != tc.key {
				t.Errorf("keyframe = %v, want %v", d.keyframe(), tc.key)
			}
			if !d.complete() {
				t.Error("not complete")
			}
		})
	}
}

func TestAV1DepacketizerW0AndErrors(t *testing.T) {
	obuA := []byte{0x30, 0xaa, 0xbb} // frame header OBU, no size field
	obuB := []byte{0x32, 0x01, 0xcc} // frame header OBU with size field
	want := concat([]byte{0x12, 0x00}, []byte{0x32, 0x02, 0xaa, 0xbb}, obuB)
	// W=0: every element has a length.
	p := []byte{0x00, 3}
	p = append(p, obuA...)
	p = append(p, 3)
	p = append(p, obuB...)
	d := &av1Depacketizer{}
	got, err := depackAll(d, [][]byte{p})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got % x, want % x", got, want)
	}
	for _, tc := range []struct {
		name string
		p    [][]byte
	}{
		{"continuation first", [][]byte{{0x90, 0x30, 0xaa}}},
		{"unfinished then new", [][]byte{{0x50, 0x30, 0xaa}, {0x10, 0x30, 0xaa}}},
		{"element overrun", [][]byte{{0x00, 9, 0x30}}},
		{"bad size field", [][]byte{{0x10, 0x32, 0x05, 0xcc}}},
	} {
		if _, err := depackAll(&av1Depacketizer{}, tc.p); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestVP9IsKeyframe(t *testing.T) {
	tests := []struct {
		b   byte
		key bool
	}{
		{0x82, true},  // profile 0, key frame
		{0x86, false}, // profile 0, inter frame
		{0x88, false}, // show_existing_frame
		{0xb0, true},  // profile 3 (reserved bit), key frame
		{0xb2, false}, // profile 3, inter frame
		{0x42, false}, // bad frame marker
	}
	for _, tc := range tests {
		if got := vp9IsKeyframe([]byte{tc.b, 0x49, 0x83, 0x42}); got != tc.key {
			t.Errorf("vp9IsKeyframe(%#x) = %v, want %v", tc.b, got, tc.key)
		}
	}
}

func TestDepacketizersNoAllocs(t *testing.T) {
	h264 := [][]byte{{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, {0x7c, 0x85, 1, 2, 3}, {0x7c, 0x45, 4, 5, 6}}
	av1 := (&codecs.AV1Payloader{}).Payload(100, concat([]byte{0x12, 0}, av1OBU(6, false, make([]byte, 500))))
	for _, tc := range []struct {
		name string
		d    depacketizer
		p    [][]byte
	}{{"h264", &h264Depacketizer{}, h264}, {"av1", &av1Depacketizer{}, av1}} {
		var frame []byte
		run := func() {
			frame = frame[:0]
			tc.d.reset()
			for _, p := range tc.p {
				frame, _ = tc.d.append(frame, p)
			}
		}
		run()
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", tc.name, n)
		}
	}
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}
