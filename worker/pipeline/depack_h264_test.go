package pipeline

import (
	"bytes"
	"testing"
)

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
