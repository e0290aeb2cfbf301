package main

import (
	"strings"
	"testing"

	"github.com/roomcast/roomcast/worker"
)

func TestProgressLine(t *testing.T) {
	video := worker.State{State: worker.Running, Peers: 2, Recording: worker.Recording{Running: true, Path: "recording.mp4", Bytes: 3 << 20},
		Stats: worker.Stats{Elapsed: 61, FPS: 30, BitrateKbps: 2500}}
	audio := worker.State{State: worker.Running, Peers: 1, AudioOnly: true, Recording: worker.Recording{Running: true, Path: "recording.part2.m4a", Bytes: 4096},
		Stats: worker.Stats{Elapsed: 5, BitrateKbps: 128}}
	for _, c := range []struct {
		name      string
		s         worker.State
		want, not []string
	}{
		{"video", video, []string{"running 00:01:01", " 30.0 fps", "2 peers", "mp4 on 3.0 MiB"}, []string{"audio only"}},
		{"audio only", audio, []string{"audio only", "m4a on 4 KiB", "1 peers"}, []string{"fps", "mp4"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			line := progressLine(c.s)
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q lacks %q", line, w)
				}
			}
			for _, n := range c.not {
				if strings.Contains(line, n) {
					t.Errorf("%q has %q", line, n)
				}
			}
		})
	}
}
