package service

import (
	"runtime"

	"github.com/roomcast/roomcast/config"
)

// Cost is a job's expected CPU use, in cores.
type Cost float64

// The cost model, calibrated on this project's 2-core bench machine
// (bench/results.md, docs/capacity.md): a 4-peer room composed at
// 1280x720p30 costs 0.87 CPU-s/s, about 0.15 of it per-job work that does
// not grow with the picture (decoding four small peers, the mixer, AAC) and
// the rest scaling with output pixels per second (compositing and x264).
const (
	fixedCost     = 0.15
	costPer720p30 = 0.72
	pixels720p30  = 1280 * 720 * 30
	// perOutput covers muxing and sending one more output; the bench
	// measures three RTMP URLs within noise of one.
	perOutput = 0.01
	// Utilization is how much of the machine admission hands out: at 2
	// jobs of 0.87 on 2 cores, 17% of frames came late.
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
