package mediafile

import "encoding/binary"

// opusPreSkip reads the pre-skip from an OpusHead (RFC 7845 section 5.1).
// mediacommon reads Opus packets, not the Ogg/Matroska identification
// header.
func opusPreSkip(extra []byte) int {
	if len(extra) < 12 || string(extra[:8]) != "OpusHead" {
		return 0
	}
	return int(binary.LittleEndian.Uint16(extra[10:12]))
}
