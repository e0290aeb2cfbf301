package worker

import (
	"context"
	"slices"

	"github.com/roomcast/roomcast/config"
)

// AddRTMP starts streaming to one more URL while the job runs (an extension
// of the contract). It is refused when the job does not stream already,
// because starting streaming on a recording job is refused by the contract,
// and past the limit of three URLs.
func (j *Job) AddRTMP(ctx context.Context, url string) error {
	if err := config.ValidateRTMPURL(url); err != nil {
		return errorf(CodeInvalidConfig, "rtmpUrls: %w", err)
	}
	reply := make(chan error, 1)
	if err := j.ask(ctx, addRTMPReq{url: url, reply: reply}); err != nil {
		return j.notServed(err, "RTMP URLs can be added only while it runs")
	}
	return <-reply
}

// RemoveRTMP stops streaming to one URL (given as started, key included)
// while the job runs on. Removing the last URL of a job that records too is
// allowed; streaming then stops. It returns once that output has stopped.
func (j *Job) RemoveRTMP(ctx context.Context, url string) error {
	reply := make(chan error, 1)
	if err := j.ask(ctx, removeRTMPReq{url: url, reply: reply}); err != nil {
		return j.notServed(err, "RTMP URLs can be removed only while it runs")
	}
	return <-reply
}

// addRTMP is AddRTMP on the loop.
func (j *Job) addRTMP(url string) error {
	if j.stage != stageRunning {
		return errorf(CodeInvalidConfig, "the job is %s: RTMP URLs can be added only while it runs", j.state.State)
	}
	if len(j.rtmpURLs) == 0 {
		return errorf(CodeAlreadyRunning, "job %s records without streaming: stop it and start streaming and recording together", j.cfg.ID)
	}
	if len(j.rtmpURLs) >= config.MaxRTMPURLs {
		return errorf(CodeInvalidConfig, "rtmpUrls: the job streams to %d URLs already, the limit is %d", len(j.rtmpURLs), config.MaxRTMPURLs)
	}
	if slices.Contains(j.rtmpURLs, url) {
		return errorf(CodeInvalidConfig, "rtmpUrls: the job streams to %s already", config.MaskRTMPURL(url))
	}
	s, err := newRTMPSink(j.cfg, j.opts, url)
	if err != nil {
		return err
	}
	j.rtmpSeq++
	name := rtmpName(j.rtmpSeq)
	// In the state before the fan-out starts it, so that its first state
	// change (a note the loop takes after this) finds its entry.
	j.rtmpNames = append(j.rtmpNames, name)
	j.rtmpURLs = append(j.rtmpURLs, url)
	j.state.RTMPStreaming.Outputs = append(j.state.RTMPStreaming.Outputs, RTMPOutput{URL: config.MaskRTMPURL(url)})
	if err := j.g.fan.Add(j.g.outCtx, name, s, queueOptions()); err != nil {
		j.dropRTMP(name)
		return errorf(CodeInternal, "adding %s: %w", config.MaskRTMPURL(url), err)
	}
	j.log.Info("rtmp output added", "url", config.MaskRTMPURL(url))
	return nil
}

// removeRTMP takes the URL out of the state at once, and stops its output
// on a goroutine that answers the request: the fan-out waits (up to 5 s) for
// the output to stop, and the loop must not.
func (j *Job) removeRTMP(r removeRTMPReq) {
	idx := slices.Index(j.rtmpURLs, r.url)
	if idx < 0 {
		r.reply <- errorf(CodeNotFound, "the job does not stream to %s", config.MaskRTMPURL(r.url))
		return
	}
	if j.stage != stageRunning {
		r.reply <- errorf(CodeInvalidConfig, "the job is %s", j.state.State)
		return
	}
	name := j.rtmpNames[idx]
	j.dropRTMP(name)
	j.publish()
	fan, log, masked := j.g.fan, j.log, config.MaskRTMPURL(r.url)
	go func() {
		if err := fan.Remove(name); err != nil {
			r.reply <- errorf(CodeInternal, "removing %s: %w", masked, err)
			return
		}
		log.Info("rtmp output removed", "url", masked)
		r.reply <- nil
	}()
}

// dropRTMP forgets an RTMP output: its URL, its state, its part of the
// roll-up.
func (j *Job) dropRTMP(name string) {
	i := j.rtmpIndex(name)
	if i < 0 {
		return
	}
	j.rtmpNames = slices.Delete(j.rtmpNames, i, i+1)
	j.rtmpURLs = slices.Delete(j.rtmpURLs, i, i+1)
	j.state.RTMPStreaming.Outputs = slices.Delete(j.state.RTMPStreaming.Outputs, i, i+1)
	j.rollUpRTMP()
}
