package service

import (
	"runtime"

	"github.com/roomcast/roomcast/config"
)

// Cost is a job's expected CPU use, in cores.
type Cost float64

// The cost model, calibrated on this project's 2-core bench machine
// (bench/results.md, docs/capacity.md): a 4-peer room composed at
// 1280x720p30 costs 0.57 CPU-s/s and at 1920x1080p30 0.95, so about 0.27
// of it is per-job work that does not grow with the picture (decoding four
// peers, the mixer, AAC) and the rest scales with output pixels per second
// (compositing and x264).
const (
	fixedCost     = 0.27
	costPer720p30 = 0.30
	pixels720p30  = 1280 * 720 * 30
	// perOutput covers muxing and sending one more output; the bench
	// measures three RTMP URLs within noise of one.
	perOutput = 0.01
	// audioOnlyCost is an audio-only job's: four Opus decodes, the mix and
	// AAC.
	audioOnlyCost = 0.10
	// Utilization is how much of the machine admission hands out: three
	// 720p30 jobs (1.74 cores) on 2 cores made half of their frames late
	// on the shared bench machine; two kept real time.
	Utilization = 0.8
)

// CostOf estimates cfg's CPU use, defaults applied.
func CostOf(cfg config.Job) Cost {
	cfg.ApplyDefaults()
	px := float64(cfg.Resolution.Width) * float64(cfg.Resolution.Height) * float64(cfg.FPS)
	outputs := len(cfg.RTMPURLs)
	for _, on := range []bool{cfg.Record, cfg.HLS, cfg.HLSRecord} {
		if on {
			outputs++
		}
	}
	if cfg.AudioOnly {
		// No decode, composite or encode of video: bench/results.md
		// (audio-only) measures 0.10 CPU-s/s for the 4-peer room.
		return Cost(audioOnlyCost + perOutput*float64(outputs))
	}
	return Cost(fixedCost + costPer720p30*px/pixels720p30 + perOutput*float64(outputs))
}

// Capacity is how many cores admission may hand out: Utilization of the
// machine's, or of cores when it is set (--capacity).
func Capacity(cores float64) Cost {
	if cores <= 0 {
		cores = float64(runtime.NumCPU())
	}
	return Cost(cores * Utilization)
}
