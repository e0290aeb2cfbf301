package file

import (
	"bytes"
	"testing"
	"time"
)

func TestAVCCToAnnexB(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		nalLength int
		want      []byte
		wantErr   bool
	}{
		{"4-byte lengths", []byte{0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41}, 4, []byte{0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x41}, false},
		{"2-byte lengths", []byte{0, 2, 0x65, 0xaa, 0, 1, 0x41}, 2, []byte{0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x41}, false},
		{"1-byte lengths", []byte{1, 0x09}, 1, []byte{0, 0, 0, 1, 0x09}, false},
		{"length past the end", []byte{0, 0, 0, 9, 0x65}, 4, nil, true},
		{"truncated length", []byte{0, 0, 0, 1, 0x65, 0, 0}, 4, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := avccToAnnexB(append([]byte(nil), tt.in...), tt.nalLength)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x, want % x", got, tt.want)
			}
		})
	}
}

func TestH264ParamSets(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xda}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	avcc := append([]byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, byte(len(sps))}, sps...)
	avcc = append(append(avcc, 1, 0, byte(len(pps))), pps...)
	annexB := append(append(append([]byte{0, 0, 0, 1}, sps...), 0, 0, 1), pps...)
	tests := []struct {
		name    string
		extra   []byte
		nalLen  int
		sets    int
		wantErr bool
	}{
		{"avcC", avcc, 4, 2, false},
		{"Annex B", annexB, 0, 2, false},
		{"none", nil, 0, 0, false},
		{"truncated avcC", avcc[:10], 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, sets, err := h264ParamSets(tt.extra)
			if (err != nil) != tt.wantErr || n != tt.nalLen || len(sets) != tt.sets {
				t.Fatalf("= %d, %d sets, %v", n, len(sets), err)
			}
			if tt.sets == 2 && (!bytes.Equal(sets[0], sps) || !bytes.Equal(sets[1], pps)) {
				t.Fatalf("sets % x", sets)
			}
		})
	}
	if got := h264Fmtp([][]byte{sps, pps}); got != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42c01e" {
		t.Errorf("fmtp %q", got)
	}
	frame := withParamSets([][]byte{sps, pps}, []byte{0, 0, 0, 1, 0x65, 1})
	if !h264HasSPS(frame) || h264HasSPS([]byte{0, 0, 0, 1, 0x65, 1}) {
		t.Error("h264HasSPS")
	}
	var types []byte
	eachNAL(frame, func(nal []byte) { types = append(types, nal[0]&0x1f) })
	if !bytes.Equal(types, []byte{nalSPS, nalPPS, nalIDR}) {
		t.Errorf("NAL types %v", types)
	}
}

func TestAV1SequenceHeader(t *testing.T) {
	seq := []byte{0x0a, 0x02, 0xaa, 0xbb}         // OBU_SEQUENCE_HEADER with size 2
	frame := []byte{0x32, 0x03, 0x01, 0x02, 0x03} // OBU_FRAME with size 3
	td := []byte{0x12, 0x00}                      // temporal delimiter
	if !av1HasSequenceHeader(append(append([]byte{}, td...), append(seq, frame...)...)) {
		t.Error("missed the sequence header")
	}
	if av1HasSequenceHeader(append(append([]byte{}, td...), frame...)) {
		t.Error("found a sequence header in a frame without one")
	}
	if av1HasSequenceHeader([]byte{0x32, 0x7f}) { // size past the end
		t.Error("malformed input")
	}
	if got := av1ConfigOBUs(append([]byte{0x81, 0, 0, 0}, seq...)); len(got) != 1 || !bytes.Equal(got[0], seq) {
		t.Errorf("configOBUs % x", got)
	}
}

func TestOpusSamples(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want int
	}{
		{"CELT 20 ms", []byte{0xfc}, 960},      // config 31, code 0
		{"CELT 2.5 ms", []byte{0x80}, 120},     // config 16
		{"SILK 60 ms", []byte{0x18}, 2880},     // config 3
		{"hybrid 10 ms x2", []byte{0x61}, 960}, // config 12, code 1
		{"CELT 20 ms, code 3 with 3 frames", []byte{0xff, 0x03}, 2880},
		{"code 3 without count", []byte{0xff}, 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := opusSamples(tt.p); got != tt.want {
			t.Errorf("%s: %d samples, want %d", tt.name, got, tt.want)
		}
	}
	head := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	if got := opusPreSkip(head); got != 312 {
		t.Errorf("pre-skip %d, want 312", got)
	}
}

func TestNTPAndTicks(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if back := ntpToTime(ntpTime(at)); back.Sub(at) > 0 || at.Sub(back) > time.Nanosecond {
		t.Errorf("NTP round trip %v -> %v", at, back)
	}
	tests := []struct {
		ticks, rate int64
		want        time.Duration
	}{
		{-120, 48000, -2500 * time.Microsecond},
		{3000, 90000, 33333333},
		{90000 * 3600 * 30, 90000, 30 * time.Hour}, // no overflow
	}
	for _, tt := range tests {
		if got := ticksToDuration(tt.ticks, tt.rate); got != tt.want {
			t.Errorf("ticksToDuration(%d, %d) = %v, want %v", tt.ticks, tt.rate, got, tt.want)
		}
	}
}
