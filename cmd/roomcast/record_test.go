package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
)

func TestExitStatus(t *testing.T) {
	bad := &config.Error{Problems: []string{"hlsVariant: \"foo\" is not lowLatency, fmp4 or mpegts"}}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"config's error", bad, exitUsage},
		{"config's error, wrapped", fmt.Errorf("worker: %w", bad), exitUsage},
		{"config's error as a job's cause", &worker.Error{Code: worker.CodeInternal, Message: bad.Error(), Cause: bad}, exitUsage},
		{"a setting the job refused", &worker.Error{Code: worker.CodeInvalidConfig, Message: "rtmpUrls: bad CA file"}, exitUsage},
		{"a failed join", &worker.Error{Code: worker.CodeRoomJoin, Message: "unauthorized"}, exitFailed},
		{"every output failed", &worker.Error{Code: worker.CodeOutput, Message: "every output failed"}, exitFailed},
		{"anything else", errors.New("boom"), exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitStatus(tc.err); got != tc.want {
				t.Errorf("exitStatus(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}
