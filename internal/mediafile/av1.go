package mediafile

import "github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

// av1ConfigOBUs returns the configOBUs of an AV1CodecConfigurationRecord
// (av1C: marker and version byte 0x81, three more bytes, then OBUs), which
// carry the sequence header. mediacommon reads OBUs, not this record.
func av1ConfigOBUs(extra []byte) [][]byte {
	if len(extra) > 4 && extra[0] == 0x81 {
		return [][]byte{extra[4:]}
	}
	return nil
}

// AV1TemporalUnit prepares one demuxed AV1 temporal unit, OBUs with their
// sizes as Matroska and MP4 store them (the low-overhead format pion's
// AV1Payloader parses), for sending: a keyframe without a sequence header
// gets configOBUs (the sequence header from the av1C) in front, so that a
// receiver that joins there can decode. The result may share memory with
// data.
func AV1TemporalUnit(data []byte, configOBUs [][]byte, key bool) []byte {
	if !key || len(configOBUs) == 0 || av1HasSequenceHeader(data) {
		return data
	}
	n := len(data)
	for _, c := range configOBUs {
		n += len(c)
	}
	out := make([]byte, 0, n)
	for _, c := range configOBUs {
		out = append(out, c...)
	}
	return append(out, data...)
}

// av1HasSequenceHeader reports whether a temporal unit in the low-overhead
// format carries a sequence header OBU. It walks the OBU headers and sizes
// without copying them (av1.Bitstream.Unmarshal copies every OBU). An OBU
// it cannot read (no size field; an extension header, which mediacommon's
// OBUHeader refuses) ends the walk: "no", so the sequence header is sent
// again, which costs a few bytes and is harmless.
func av1HasSequenceHeader(tu []byte) bool {
	for len(tu) > 0 {
		var h av1.OBUHeader
		if err := h.Unmarshal(tu); err != nil || !h.HasSize {
			return false
		}
		if h.Type == av1.OBUTypeSequenceHeader {
			return true
		}
		var size av1.LEB128
		n, err := size.Unmarshal(tu[1:])
		if err != nil || uint64(size) > uint64(len(tu)-1-n) {
			return false
		}
		tu = tu[1+n+int(size):]
	}
	return false
}
