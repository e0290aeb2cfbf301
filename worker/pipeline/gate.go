package pipeline

import "time"

// emit takes the jitter buffer's packets in order (the emitter interface):
// audio goes to the decoder, video to the frame assembler.
func (p *Pipeline) emit(pk *jitterPacket, lost int) {
	if want := p.info.Codec.PayloadType; want != 0 && pk.pt != want {
		p.otherPayloadType(pk)
		return
	}
	p.mapper.observe(pk.ssrc, pk.ts, pk.arrival)
	if lost > 0 {
		p.st.Lost += uint64(lost)
		if p.asm != nil {
			// The lost packets may be part of this frame, the start of the
			// next or whole frames: what follows needs a keyframe.
			p.asm.lose()
			p.waitKeyframe = true
			p.requestKeyframe(p.clk.Now(), "packet loss")
		}
	}
	if p.asm == nil {
		t := p.mapper.jobTime(pk.ts)
		if p.tap != nil && len(pk.payload) > 0 {
			p.tap.Frame(pk.payload, t, true)
		}
		p.decodeAudio(pk.payload, t)
		return
	}
	if err := p.asm.push(pk.payload, pk.ts, pk.marker, p); err != nil && p.debug {
		p.log.Debug("depacketize", "seq", pk.seq, "err", err)
	}
}

// frameDone is the keyframe gate (the frameHandler interface): it decodes an
// assembled frame, unless the frame was dropped or the decoder waits for a
// keyframe it is not, and asks for a keyframe when one is needed.
func (p *Pipeline) frameDone(frame []byte, tooLarge bool) {
	now := p.clk.Now()
	if frame == nil {
		p.st.FramesDropped++
		reason := "incomplete frame"
		if tooLarge {
			p.st.FramesTooLarge++
			reason = "frame too large"
		}
		p.waitKeyframe = true
		p.requestKeyframe(now, reason)
		return
	}
	d := p.asm.depack
	if d.paramsOnly() {
		// FFmpeg's H.264 decoder takes parameter sets but fails a packet
		// with no slice ("no frame!"): keep them for the next frame.
		p.params = append(p.params[:0], frame...)
		return
	}
	if d.keyframe() {
		p.waitKeyframe = false
	} else if p.waitKeyframe {
		p.st.FramesDropped++
		p.requestKeyframe(now, "waiting for a keyframe")
		return
	}
	data := frame
	if len(p.params) > 0 {
		p.joined = append(append(p.joined[:0], p.params...), frame...)
		p.params = p.params[:0]
		data = p.joined
	}
	t := p.mapper.jobTime(p.asm.ts)
	if p.tap != nil {
		p.tap.Frame(data, t, d.keyframe())
	}
	if p.dec == nil {
		return
	}
	if err := p.dec.send(data, int64(t)); err != nil {
		p.decodeError(err)
		return
	}
	p.receiveVideo(t)
}

// requestKeyframe sends a PLI unless one went out less than keyframeInterval
// ago; a keyframe takes a round trip and an encode to come.
func (p *Pipeline) requestKeyframe(now time.Duration, reason string) {
	if p.pliSent && now-p.lastPLI < keyframeInterval {
		return
	}
	p.pliSent, p.lastPLI = true, now
	p.st.KeyframeRequests++
	if err := p.track.RequestKeyframe(); err != nil {
		p.log.Info("keyframe request failed", "reason", reason, "err", err)
		return
	}
	p.log.Info("keyframe requested", "reason", reason, "requests", p.st.KeyframeRequests)
}
