package janus

import "encoding/binary"

// audioLevel finds the RFC 6464 audio level (header extension extID) in a
// marshalled RTP packet, without allocating: it is on the per-packet path.
// level is -dBov, 0 the loudest and 127 silence. pion's rtp.Header would
// allocate its extension list for every packet, so this reads the bytes.
func audioLevel(pkt []byte, extID uint8) (level uint8, ok bool) {
	if extID == 0 || len(pkt) < 12 || pkt[0]>>6 != 2 || pkt[0]&0x10 == 0 {
		return 0, false
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if len(pkt) < off+4 {
		return 0, false
	}
	profile := binary.BigEndian.Uint16(pkt[off:])
	end := off + 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:]))
	if end > len(pkt) {
		return 0, false
	}
	p := off + 4
	switch {
	case profile == 0xBEDE: // one-byte headers (RFC 8285)
		for p < end {
			b := pkt[p]
			if b == 0 { // padding
				p++
				continue
			}
			eid, n := b>>4, int(b&0x0f)+1
			if eid == 15 {
				return 0, false
			}
			if p+1+n > end {
				return 0, false
			}
			if eid == extID {
				return pkt[p+1] & 0x7f, true
			}
			p += 1 + n
		}
	case profile&0xfff0 == 0x1000: // two-byte headers
		for p < end {
			if pkt[p] == 0 {
				p++
				continue
			}
			if p+2 > end {
				return 0, false
			}
			eid, n := pkt[p], int(pkt[p+1])
			if p+2+n > end {
				return 0, false
			}
			if eid == extID && n >= 1 {
				return pkt[p+2] & 0x7f, true
			}
			p += 2 + n
		}
	}
	return 0, false
}
