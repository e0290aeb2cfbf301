package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// AMF0 is the only command encoding a publisher needs (FMLE, OBS and FFmpeg
// all use it); this is the subset of the format RTMP servers send back.

// AMF0 type markers.
const (
	amfNumber      = 0x00
	amfBoolean     = 0x01
	amfString      = 0x02
	amfObject      = 0x03
	amfNull        = 0x05
	amfUndefined   = 0x06
	amfECMAArray   = 0x08
	amfObjectEnd   = 0x09
	amfStrictArray = 0x0a
	amfDate        = 0x0b
	amfLongString  = 0x0c
	amfXMLDocument = 0x0f
	amfTypedObject = 0x10
)

// amfObj is an AMF0 object with its keys in order: servers don't care about
// the order, but a fixed one keeps what goes on the wire reproducible.
type amfObj []amfProp

type amfProp struct {
	Key   string
	Value any
}

// amfECMA is encoded as an ECMA array (what onMetaData carries).
type amfECMA []amfProp

// amfEncode appends the AMF0 encoding of each value to b. Supported values:
// nil, bool, float64, int, string, amfObj, amfECMA, and []any of those (a
// strict array).
func amfEncode(b []byte, values ...any) []byte {
	for _, v := range values {
		switch v := v.(type) {
		case nil:
			b = append(b, amfNull)
		case bool:
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, amfBoolean, x)
		case float64:
			b = append(b, amfNumber)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case int:
			b = amfEncode(b, float64(v))
		case string:
			if len(v) > 0xffff {
				b = append(b, amfLongString)
				b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			} else {
				b = append(b, amfString)
				b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
			}
			b = append(b, v...)
		case amfObj:
			b = append(b, amfObject)
			b = amfAppendProps(b, v)
		case amfECMA:
			b = append(b, amfECMAArray)
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = amfAppendProps(b, v)
		case []any:
			b = append(b, amfStrictArray)
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = amfEncode(b, v...)
		default:
			// A programming error in this package, not a runtime condition.
			panic(fmt.Sprintf("amf0: cannot encode %T", v))
		}
	}
	return b
}

func amfAppendProps(b []byte, props []amfProp) []byte {
	for _, p := range props {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Key)))
		b = append(b, p.Key...)
		b = amfEncode(b, p.Value)
	}
	return append(b, 0, 0, amfObjectEnd)
}

// amfMaxDepth bounds how deep objects and arrays may nest, so that a hostile
// server cannot exhaust the stack; real commands nest two levels.
const amfMaxDepth = 32

var errAMFShort = errors.New("amf0: truncated value")

// amfDecodeAll decodes consecutive AMF0 values. Objects and ECMA arrays
// become map[string]any, strict arrays []any, numbers float64.
func amfDecodeAll(b []byte) ([]any, error) {
	var out []any
	for len(b) > 0 {
		v, n, err := amfDecode(b, 0)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}

// amfDecode decodes one value, at nesting level depth, and returns it with
// the bytes it used.
func amfDecode(b []byte, depth int) (any, int, error) {
	if depth > amfMaxDepth {
		return nil, 0, errors.New("amf0: nested too deep")
	}
	if len(b) < 1 {
		return nil, 0, errAMFShort
	}
	switch b[0] {
	case amfNumber:
		if len(b) < 9 {
			return nil, 0, errAMFShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 9, nil
	case amfBoolean:
		if len(b) < 2 {
			return nil, 0, errAMFShort
		}
		return b[1] != 0, 2, nil
	case amfString:
		s, n, err := amfShortString(b[1:])
		return s, 1 + n, err
	case amfLongString, amfXMLDocument:
		if len(b) < 5 {
			return nil, 0, errAMFShort
		}
		l := int(binary.BigEndian.Uint32(b[1:]))
		if l < 0 || len(b) < 5+l {
			return nil, 0, errAMFShort
		}
		return string(b[5 : 5+l]), 5 + l, nil
	case amfNull, amfUndefined:
		return nil, 1, nil
	case amfObject:
		m, n, err := amfDecodeProps(b[1:], depth)
		return m, 1 + n, err
	case amfTypedObject:
		_, n, err := amfShortString(b[1:])
		if err != nil {
			return nil, 0, err
		}
		m, n2, err := amfDecodeProps(b[1+n:], depth)
		return m, 1 + n + n2, err
	case amfECMAArray:
		if len(b) < 5 {
			return nil, 0, errAMFShort
		}
		// The count is advisory; the end marker is what ends it.
		m, n, err := amfDecodeProps(b[5:], depth)
		return m, 5 + n, err
	case amfStrictArray:
		if len(b) < 5 {
			return nil, 0, errAMFShort
		}
		count := int(binary.BigEndian.Uint32(b[1:]))
		pos := 5
		var arr []any
		for i := 0; i < count; i++ {
			v, n, err := amfDecode(b[pos:], depth+1)
			if err != nil {
				return nil, 0, err
			}
			arr = append(arr, v)
			pos += n
		}
		return arr, pos, nil
	case amfDate:
		if len(b) < 11 {
			return nil, 0, errAMFShort
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[1:])), 11, nil
	default:
		return nil, 0, fmt.Errorf("amf0: unsupported type marker 0x%02x", b[0])
	}
}

func amfShortString(b []byte) (string, int, error) {
	if len(b) < 2 {
		return "", 0, errAMFShort
	}
	l := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+l {
		return "", 0, errAMFShort
	}
	return string(b[2 : 2+l]), 2 + l, nil
}

func amfDecodeProps(b []byte, depth int) (map[string]any, int, error) {
	m := map[string]any{}
	pos := 0
	for {
		key, n, err := amfShortString(b[pos:])
		if err != nil {
			return nil, 0, err
		}
		pos += n
		if key == "" && pos < len(b) && b[pos] == amfObjectEnd {
			return m, pos + 1, nil
		}
		v, n, err := amfDecode(b[pos:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		m[key] = v
		pos += n
	}
}
