package janus

import (
	"testing"

	"github.com/pion/rtp"
)

func levelPacket(t testing.TB, profile uint16, extID uint8, level uint8, others ...uint8) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, Timestamp: 960, SSRC: 42, CSRC: []uint32{7}}, Payload: []byte{1, 2, 3}}
	if profile != 0 {
		p.Header.Extension = true
		p.Header.ExtensionProfile = profile
		for _, o := range others {
			if err := p.Header.SetExtension(o, []byte{0xaa, 0xbb}); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := rtp.AudioLevelExtension{Level: level, Voice: true}.Marshal()
		if err := p.Header.SetExtension(extID, b); err != nil {
			t.Fatal(err)
		}
	}
	out, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAudioLevel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkt     []byte
		id      uint8
		level   uint8
		present bool
	}{
		{"one-byte", levelPacket(t, 0xBEDE, 1, 30), 1, 30, true},
		{"one-byte after another", levelPacket(t, 0xBEDE, 3, 127, 2, 5), 3, 127, true},
		{"two-byte", levelPacket(t, 0x1000, 9, 0, 4), 9, 0, true},
		{"other id", levelPacket(t, 0xBEDE, 1, 30), 2, 0, false},
		{"no extension", levelPacket(t, 0, 0, 0), 1, 0, false},
		{"id 0", levelPacket(t, 0xBEDE, 1, 30), 0, 0, false},
		{"short", []byte{0x90, 0, 0}, 1, 0, false},
	} {
		l, ok := audioLevel(tc.pkt, tc.id)
		if ok != tc.present || l != tc.level {
			t.Errorf("%s: %d %v, want %d %v", tc.name, l, ok, tc.level, tc.present)
		}
	}
}

func TestAudioLevelAllocatesNothing(t *testing.T) {
	pkt := levelPacket(t, 0xBEDE, 3, 40, 1, 2)
	if n := testing.AllocsPerRun(100, func() { audioLevel(pkt, 3) }); n != 0 {
		t.Errorf("audioLevel allocates %.0f times", n)
	}
}

// FuzzAudioLevel: whatever bytes come, audioLevel does not panic, and
// where pion's parser finds the extension it finds the same level.
func FuzzAudioLevel(f *testing.F) {
	f.Add(levelPacket(f, 0xBEDE, 1, 30), uint8(1))
	f.Add(levelPacket(f, 0x1000, 9, 0, 4), uint8(9))
	f.Add(levelPacket(f, 0xBEDE, 3, 127, 2, 5), uint8(3))
	f.Fuzz(func(t *testing.T, pkt []byte, id uint8) {
		id = id%14 + 1
		got, ok := audioLevel(pkt, id)
		var p rtp.Packet
		// pion reads any version; RTP (and audioLevel) wants 2.
		if p.Unmarshal(pkt) != nil || !p.Header.Extension || p.Header.Version != 2 {
			return
		}
		if p.Header.ExtensionProfile != 0xBEDE && p.Header.ExtensionProfile&0xfff0 != 0x1000 {
			return
		}
		raw := p.Header.GetExtension(id)
		var a rtp.AudioLevelExtension
		if len(raw) == 0 || a.Unmarshal(raw) != nil {
			return
		}
		if !ok || got != a.Level {
			t.Fatalf("pion reads level %d, audioLevel %d %v", a.Level, got, ok)
		}
	})
}
