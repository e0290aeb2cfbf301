package janus

import (
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// levelStamper puts an RFC 6464 audio level on every outgoing audio
// packet of a Publisher, when the extension was negotiated: that is all
// Janus passes on to subscribers about who speaks.
type levelStamper struct {
	interceptor.NoOp
	level *atomic.Int32 // -dBov, 0..127; negative: stamp nothing
}

type levelStamperFactory struct{ level *atomic.Int32 }

func (f levelStamperFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &levelStamper{level: f.level}, nil
}

func (l *levelStamper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var extID uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == audioLevelURI {
			extID = uint8(e.ID)
		}
	}
	if extID == 0 {
		return w
	}
	var buf [1]byte
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if v := l.level.Load(); v >= 0 {
			ext := rtp.AudioLevelExtension{Level: uint8(min(v, 127)), Voice: v < 127}
			if _, err := ext.MarshalTo(buf[:]); err == nil {
				_ = h.SetExtension(extID, buf[:])
			}
		}
		return w.Write(h, payload, a)
	})
}
