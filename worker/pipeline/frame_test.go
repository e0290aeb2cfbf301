package pipeline

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// frameLog records what an assembler hands out.
type frameLog struct {
	frames   [][]byte // nil for a dropped frame
	tooLarge []bool
}

func (l *frameLog) frameDone(f []byte, tooLarge bool) {
	l.frames = append(l.frames, bytes.Clone(f))
	l.tooLarge = append(l.tooLarge, tooLarge)
}

func TestAssembler(t *testing.T) {
	// VP8 payloads: a descriptor byte (S bit for a head), then data.
	head := func(data ...byte) []byte { return append([]byte{0x10}, data...) }
	cont := func(data ...byte) []byte { return append([]byte{0x00}, data...) }
	type pkt struct {
		payload []byte
		ts      uint32
		marker  bool
		lost    bool // lose() before it
	}
	tests := []struct {
		name     string
		maxSize  int
		in       []pkt
		want     [][]byte
		tooLarge []bool
	}{
		{
			name: "marker ends frames",
			in:   []pkt{{head(1), 1, false, false}, {cont(2), 1, true, false}, {head(3), 2, true, false}},
			want: [][]byte{{1, 2}, {3}},
		},
		{
			name: "new timestamp ends a frame whose marker was lost",
			in:   []pkt{{head(1), 1, false, false}, {head(2), 2, true, false}},
			want: [][]byte{{1}, {2}},
		},
		{
			name: "frame without its head is dropped",
			in:   []pkt{{cont(1), 1, true, false}, {head(2), 2, true, false}},
			want: [][]byte{nil, {2}},
		},
		{
			name: "loss inside a frame drops it",
			in:   []pkt{{head(1), 1, false, false}, {cont(2), 1, true, true}, {head(3), 2, true, false}},
			want: [][]byte{nil, {3}},
		},
		{
			name: "padding-only packets carry nothing, a marker on one still ends the frame",
			in:   []pkt{{nil, 0, false, false}, {head(1), 1, false, false}, {nil, 1, false, false}, {nil, 1, true, false}, {nil, 1, true, false}, {head(2), 2, true, false}},
			want: [][]byte{{1}, {2}},
		},
		{
			name:     "frame over the cap is dropped and said so",
			maxSize:  4,
			in:       []pkt{{head(1, 2), 1, false, false}, {cont(3, 4), 1, false, false}, {cont(5), 1, false, false}, {cont(6), 1, true, false}, {head(7, 8, 9, 10), 2, true, false}},
			want:     [][]byte{nil, {7, 8, 9, 10}},
			tooLarge: []bool{true, false},
		},
		{
			name:     "no marker and no new timestamp: the cap holds",
			maxSize:  16,
			in:       append([]pkt{{head(0), 1, false, false}}, slices.Repeat([]pkt{{cont(1, 2, 3, 4, 5, 6, 7, 8), 1, false, false}}, 100)...),
			tooLarge: []bool{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			maxSize := tc.maxSize
			if maxSize == 0 {
				maxSize = 1 << 20
			}
			a := newAssembler(&vp8Depacketizer{}, maxSize)
			out := &frameLog{}
			for i, p := range tc.in {
				if p.lost {
					a.lose()
				}
				err := a.push(p.payload, p.ts, p.marker, out)
				if err != nil && !errors.Is(err, errFrameTooLarge) {
					t.Fatalf("packet %d: %v", i, err)
				}
				if len(a.frame)+a.depack.pending() > maxSize {
					t.Fatalf("packet %d: %d bytes held, cap %d", i, len(a.frame), maxSize)
				}
			}
			if !slices.EqualFunc(out.frames, tc.want, bytes.Equal) || len(out.frames) != len(tc.want) {
				t.Errorf("frames %v, want %v", out.frames, tc.want)
			}
			if tc.tooLarge != nil && !slices.Equal(out.tooLarge, tc.tooLarge) {
				t.Errorf("tooLarge %v, want %v", out.tooLarge, tc.tooLarge)
			}
		})
	}
}
