package pipeline

import (
	"fmt"
	"time"

	"github.com/asticode/go-astiav"
)

// Sink receives decoded media; *compositor.Compositor implements it. Calls
// are quick and never block on the clock.
type Sink interface {
	// PushVideo hands over a decoded frame in the decoder's pixel format. f is
	// reused after the call returns.
	PushVideo(trackID string, f *astiav.Frame, t time.Duration)
	// PushAudio hands over interleaved stereo float32 samples at 48 kHz.
	// samples is reused after the call returns.
	PushAudio(trackID string, samples []float32, t time.Duration)
}

// receiveVideo hands the decoder's frames to the Sink; frames without a
// timestamp get fallback.
func (p *Pipeline) receiveVideo(fallback time.Duration) {
	for {
		ok, err := p.dec.receive()
		if err != nil {
			p.decodeError(err)
			return
		}
		if !ok {
			return
		}
		if w, h := p.dec.frame.Width(), p.dec.frame.Height(); w > maxFrameSide || h > maxFrameSide {
			// A sender's claim, decoded: the compositor's scalers and
			// the canvas are not for pictures this size.
			p.dec.frame.Unref()
			p.st.FramesDropped++
			p.st.FramesOversize++
			p.decodeError(fmt.Errorf("a %dx%d frame, over the %d pixel limit on a side", w, h, maxFrameSide))
			continue
		}
		t := fallback
		if pts := p.dec.frame.Pts(); pts != astiav.NoPtsValue {
			t = time.Duration(pts)
		}
		p.st.FramesDecoded++
		p.st.LastMediaTime = t
		if p.debug {
			// Where each frame goes on the job timeline, for lip-sync checks.
			p.log.Debug("video frame", "t", t, "now", p.clk.Now())
		}
		p.sink.PushVideo(p.info.ID, p.dec.frame, t)
		p.dec.frame.Unref()
	}
}

func (p *Pipeline) decodeAudio(payload []byte, t time.Duration) {
	if len(payload) == 0 || p.dec == nil {
		return
	}
	if err := p.dec.send(payload, int64(t)); err != nil {
		p.decodeError(err)
		return
	}
	p.receiveAudio(t)
}

func (p *Pipeline) receiveAudio(fallback time.Duration) {
	for {
		ok, err := p.dec.receive()
		if err != nil {
			p.decodeError(err)
			return
		}
		if !ok {
			return
		}
		f := p.dec.frame
		t := fallback
		if pts := f.Pts(); pts != astiav.NoPtsValue {
			t = time.Duration(pts)
		}
		if p.channels == 0 {
			// Read once: Frame.ChannelLayout copies the layout on every
			// call, and a decoder keeps its layout for the whole stream.
			p.channels = f.ChannelLayout().NbChannels()
		}
		p.audio, err = appendStereo(p.audio[:0], f, p.channels)
		n := f.NbSamples()
		f.Unref()
		if err != nil {
			p.decodeError(err)
			continue
		}
		p.st.FramesDecoded++
		p.st.LastMediaTime = t
		if p.debug {
			p.log.Debug("audio frame", "t", t, "samples", n, "now", p.clk.Now())
		}
		p.sink.PushAudio(p.info.ID, p.audio, t)
		// A second frame from the same packet follows this one.
		fallback = t + ticks(int64(n), audioRate)
	}
}

func (p *Pipeline) decodeError(err error) {
	p.st.DecodeErrors++
	now := p.clk.Now()
	if p.asm != nil {
		p.waitKeyframe = true
		p.requestKeyframe(now, "decoder error")
	}
	if p.errLogged && now-p.lastErrLog < errorLogInterval {
		p.errSuppress++
		return
	}
	p.log.Info("decode error", "err", err, "suppressed", p.errSuppress, "errors", p.st.DecodeErrors)
	p.errLogged, p.lastErrLog, p.errSuppress = true, now, 0
}
