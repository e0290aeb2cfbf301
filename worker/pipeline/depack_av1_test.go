package pipeline

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp/codecs"
)

// av1OBU builds an OBU with obu_has_size_field set, as an encoder writes a
// temporal unit.
func av1OBU(typ byte, ext bool, body []byte) []byte {
	h := typ<<3 | 0x02
	b := []byte{h}
	if ext {
		b[0] |= 0x04
		b = append(b, 0x28) // temporal_id 1, spatial_id 1
	}
	b = appendLEB128(b, len(body))
	return append(b, body...)
}

func TestAV1DepacketizerRoundTrip(t *testing.T) {
	seqHdr := av1OBU(byte(av1.OBUTypeSequenceHeader), false, []byte{0x00, 0x00, 0x00, 0x02, 0xaf, 0xff, 0x9b, 0x5f, 0x30, 0x08})
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
