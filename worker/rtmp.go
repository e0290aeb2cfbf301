package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/roomcast/roomcast/config"
)

// AddRTMP starts streaming to one more URL while the job runs (an extension
// of the contract). It is refused when the job does not stream already,
// because starting streaming on a recording job is refused by the contract,
// and past the limit of three URLs.
func (j *Job) AddRTMP(ctx context.Context, url string) error {
	if err := config.ValidateRTMPURL(url); err != nil {
		return errorf(CodeInvalidConfig, "rtmpUrls: %v", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state.State != Running {
		return errorf(CodeInvalidConfig, "the job is %s: RTMP URLs can be added only while it runs", j.state.State)
	}
	if len(j.cfg.RTMPURLs) == 0 {
		return errorf(CodeAlreadyRunning, "job %s records without streaming: stop it and start streaming and recording together", j.cfg.ID)
	}
	if len(j.cfg.RTMPURLs) >= config.MaxRTMPURLs {
		return errorf(CodeInvalidConfig, "rtmpUrls: the job streams to %d URLs already, the limit is %d", len(j.cfg.RTMPURLs), config.MaxRTMPURLs)
	}
	for _, u := range j.cfg.RTMPURLs {
		if u == url {
			return errorf(CodeInvalidConfig, "rtmpUrls: the job streams to %s already", config.MaskRTMPURL(url))
		}
	}
	s, err := j.opts.Sinks.RTMP(url, time.Duration(j.cfg.RTMPConnectTimeout), time.Duration(j.cfg.RTMPRetryWindow))
	if err != nil {
		return errorf(CodeInvalidConfig, "rtmpUrls: %s: %v", config.MaskRTMPURL(url), err)
	}
	j.rtmpSeq++
	name := fmt.Sprintf("%s%d", outRTMP, j.rtmpSeq)
	j.rtmpNames = append(j.rtmpNames, name)
	j.cfg.RTMPURLs = append(j.cfg.RTMPURLs, url)
	j.state.RTMPStreaming.Outputs = append(j.state.RTMPStreaming.Outputs, RTMPOutput{URL: config.MaskRTMPURL(url)})
	// The fan-out calls back into outputChanged, which takes mu: add the
	// sink after letting go of it.
	j.mu.Unlock()
	err = j.fan.Add(j.runCtx, name, s, queueOptions())
	j.mu.Lock()
	if err != nil {
		j.removeRTMPLocked(name)
		return errorf(CodeInternal, "adding %s: %v", config.MaskRTMPURL(url), err)
	}
	j.log.Info("rtmp output added", "url", config.MaskRTMPURL(url))
	return nil
}

// RemoveRTMP stops streaming to one URL (given as started, key included)
// while the job runs on. Removing the last URL of a job that records too is
// allowed; streaming then stops.
func (j *Job) RemoveRTMP(ctx context.Context, url string) error {
	j.mu.Lock()
	idx := -1
	for i, u := range j.cfg.RTMPURLs {
		if u == url {
			idx = i
		}
	}
	if idx < 0 {
		j.mu.Unlock()
		return errorf(CodeNotFound, "the job does not stream to %s", config.MaskRTMPURL(url))
	}
	if j.state.State != Running {
		j.mu.Unlock()
		return errorf(CodeInvalidConfig, "the job is %s", j.state.State)
	}
	name := j.rtmpNames[idx]
	j.mu.Unlock()
	err := j.fan.Remove(name)
	j.mu.Lock()
	j.removeRTMPLocked(name)
	j.mu.Unlock()
	j.publish()
	if err != nil {
		return errorf(CodeInternal, "removing %s: %v", config.MaskRTMPURL(url), err)
	}
	j.log.Info("rtmp output removed", "url", config.MaskRTMPURL(url))
	return nil
}

func (j *Job) removeRTMPLocked(name string) {
	i := j.rtmpIndexLocked(name)
	if i < 0 {
		return
	}
	j.rtmpNames = append(j.rtmpNames[:i], j.rtmpNames[i+1:]...)
	j.cfg.RTMPURLs = append(j.cfg.RTMPURLs[:i], j.cfg.RTMPURLs[i+1:]...)
	o := j.state.RTMPStreaming.Outputs
	j.state.RTMPStreaming.Outputs = append(o[:i], o[i+1:]...)
	j.rollUpRTMPLocked()
}
