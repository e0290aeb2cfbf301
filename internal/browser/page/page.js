// The publisher page: one LiveKit participant, driven by driver.js through
// window.rc. livekit-client's UMD build defines the global LivekitClient.
'use strict';

(() => {
  const LK = window.LivekitClient;
  let room = null;
  let probe = null;

  function log(...args) { console.log('[rc]', ...args); }

  // join connects and publishes camera and microphone at the SDK's defaults
  // (simulcast, RED audio), as an app would. opts: {camera, mic, width,
  // height, fps}.
  async function join(url, token, opts) {
    opts = opts || {};
    room = new LK.Room({
      adaptiveStream: false,
      dynacast: true,
      videoCaptureDefaults: { resolution: { width: opts.width || 640, height: opts.height || 360, frameRate: opts.fps || 30 } },
    });
    room.on(LK.RoomEvent.Disconnected, (reason) => log('disconnected', reason));
    room.on(LK.RoomEvent.Reconnecting, () => log('reconnecting'));
    room.on(LK.RoomEvent.Reconnected, () => log('reconnected'));
    await room.connect(url, token, { rtcConfig: { iceServers: [] } });
    if (opts.camera !== false) await room.localParticipant.setCameraEnabled(true);
    if (opts.mic !== false) await room.localParticipant.setMicrophoneEnabled(true);
    log('joined', room.localParticipant.identity, room.localParticipant.sid);
    return { sid: room.localParticipant.sid, identity: room.localParticipant.identity };
  }

  async function leave() {
    if (room) await room.disconnect(true);
    room = null;
    return true;
  }

  function localTrack(source) {
    const pub = room && room.localParticipant.getTrackPublication(source);
    return pub && pub.track;
  }

  async function setCamera(on) { await room.localParticipant.setCameraEnabled(on); return true; }
  async function setMic(on) { await room.localParticipant.setMicrophoneEnabled(on); return true; }
  async function muteCamera(muted) {
    const t = localTrack(LK.Track.Source.Camera);
    if (!t) throw new Error('no camera track');
    if (muted) await t.mute(); else await t.unmute();
    return true;
  }
  async function muteMic(muted) {
    const t = localTrack(LK.Track.Source.Microphone);
    if (!t) throw new Error('no microphone track');
    if (muted) await t.mute(); else await t.unmute();
    return true;
  }
  async function screenShare(on) {
    await room.localParticipant.setScreenShareEnabled(on, { audio: false });
    const t = localTrack(LK.Track.Source.ScreenShare);
    return !!t;
  }

  // The publisher's own view of what it sends: per layer of the camera,
  // from the sender's stats.
  async function senderStats() {
    const out = [];
    const t = localTrack(LK.Track.Source.Camera);
    if (!t || !t.sender) return out;
    const stats = await t.sender.getStats();
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp') {
        out.push({ rid: s.rid || '', ssrc: s.ssrc, width: s.frameWidth || 0, height: s.frameHeight || 0, frames: s.framesEncoded || 0, fps: s.framesPerSecond || 0, active: s.active !== false, limitation: s.qualityLimitationReason || '' });
      }
    });
    return out;
  }

  // Source sync probe. It reads the published camera and microphone as
  // captured (clones of the tracks), finds each flash (a rise of mean luma)
  // and each beep (the first loud sample after a quiet stretch), and times
  // them by their capture times on the page's clock, so beep − flash is
  // the offset the browser itself puts between them, before any encoder or
  // network.
  function startProbe() {
    const cam = localTrack(LK.Track.Source.Camera);
    const mic = localTrack(LK.Track.Source.Microphone);
    if (!cam || !mic) throw new Error('probe needs the camera and the microphone published');
    probe = { flashes: [], beeps: [], beepSlips: [], skipped: 0, stop: false, videoFrames: 0, audioChunks: 0, skew: [], slipMin: 0, slipMax: 0 };
    const p = probe;
    // Video: each frame a <video> presents, with its capture time
    // (requestVideoFrameCallback's captureTime, on the page's clock).
    // MediaStreamTrackProcessor's video timestamps are on another clock
    // than its audio ones, so they cannot be compared.
    const v = document.createElement('video');
    v.muted = true;
    v.srcObject = new MediaStream([cam.mediaStreamTrack.clone()]);
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 16;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let prev = -1;
    let prevCap = -1;
    const onFrame = (now, md) => {
      if (p.stop) { v.srcObject.getTracks().forEach((t) => t.stop()); return; }
      ctx.drawImage(v, 0, 0, 16, 16);
      const d = ctx.getImageData(0, 0, 16, 16).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      const luma = sum / 256;
      const cap = md.captureTime !== undefined ? md.captureTime : now;
      // A flash counts only when the frame before it was presented too:
      // after a skipped frame the first white one may be the flash's second.
      const gapOK = prevCap >= 0 && cap - prevCap < 1.5 * (1000 / 30) + 5;
      if (prev >= 0 && luma - prev > 40) {
        if (gapOK) p.flashes.push(cap); else p.skipped++;
      }
      if (p.videoFrames === 0) p.skew.push({ kind: 'video', ts: cap, now: performance.now() });
      prev = luma;
      prevCap = cap;
      p.videoFrames++;
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    v.play().catch((e) => log('video probe', String(e)));
    (async () => {
      const reader = new MediaStreamTrackProcessor({ track: mic.mediaStreamTrack.clone() }).readable.getReader();
      let buf = null;
      let quiet = 0; // samples since the last loud one
      // The capture clock against the samples: a chunk's timestamp less
      // the first one's, less the samples delivered in between. The
      // encoder's RTP clock counts samples, so a slip here is a step
      // between the capture times (what the probe reports) and the RTP
      // timestamps, which the sender's reports may or may not follow.
      let t0 = -1;
      let samples = 0;
      while (!p.stop) {
        const { value: a, done } = await reader.read();
        if (done) break;
        const n = a.numberOfFrames;
        if (t0 < 0) t0 = a.timestamp / 1000;
        const slip = a.timestamp / 1000 - t0 - (samples * 1000) / a.sampleRate;
        p.slipMin = Math.min(p.slipMin, slip);
        p.slipMax = Math.max(p.slipMax, slip);
        if (!buf || buf.length < n) buf = new Float32Array(n);
        a.copyTo(buf, { planeIndex: 0, format: 'f32-planar' });
        for (let i = 0; i < n; i++) {
          if (Math.abs(buf[i]) > 0.05) {
            if (quiet > a.sampleRate / 5) {
              p.beeps.push(a.timestamp / 1000 + (i * 1000) / a.sampleRate);
              p.beepSlips.push(slip);
            }
            quiet = 0;
          } else {
            quiet++;
          }
        }
        if (p.audioChunks === 0) p.skew.push({ kind: 'audio', ts: a.timestamp / 1000, now: performance.now() });
        p.audioChunks++;
        samples += n;
        a.close();
      }
      reader.cancel();
    })().catch((e) => log('audio probe', String(e)));
    return true;
  }

  // probeResult pairs each flash with the nearest beep (within half a
  // period) and returns the offsets, beep − flash, in ms.
  function probeResult(stop) {
    const p = probe;
    if (!p) throw new Error('no probe running');
    if (stop) p.stop = true;
    const pairs = [];
    for (const f of p.flashes) {
      let best = -1;
      p.beeps.forEach((b, i) => { if (best < 0 || Math.abs(b - f) < Math.abs(p.beeps[best] - f)) best = i; });
      const b = p.beeps[best];
      if (best >= 0 && Math.abs(b - f) < 400) pairs.push({ flash: f, beep: b, offsetMs: b - f, slipMs: p.beepSlips[best] });
    }
    const mean = pairs.length ? pairs.reduce((s, x) => s + x.offsetMs, 0) / pairs.length : 0;
    return { rawFlashes: p.flashes.slice(0, 5), rawBeeps: p.beeps.slice(0, 5), pairs, meanOffsetMs: mean, skippedFlashes: p.skipped, flashes: p.flashes.length, beeps: p.beeps.length, videoFrames: p.videoFrames, audioChunks: p.audioChunks, skew: p.skew, slipMinMs: p.slipMin, slipMaxMs: p.slipMax };
  }

  window.rc = { join, leave, setCamera, setMic, muteCamera, muteMic, screenShare, senderStats, startProbe, probeResult };
  log('page ready', LK.version);
})();
