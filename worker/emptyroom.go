package worker

import (
	"context"
	"fmt"
	"time"
)

// emptyTick asks the loop, at job time at, whether the room has been empty
// for the empty-room timeout; the loop then ends the job and answers true.
type emptyTick struct {
	at    time.Duration
	reply chan bool
}

// watchEmptyRoom ends the job once the room has had no peers for the
// empty-room timeout, measured on the job's clock. It holds the clock while
// it asks, so a virtual clock waits for the answer (and the job has been
// told to end before it moves on).
func (j *Job) watchEmptyRoom(ctx context.Context) {
	j.clock.Hold()
	defer j.clock.Release()
	for next := time.Second; ; next += time.Second {
		if err := j.clock.SleepUntil(ctx, next); err != nil {
			return
		}
		reply := make(chan bool, 1)
		select {
		case j.ticks <- emptyTick{at: next, reply: reply}:
		case <-ctx.Done():
			return
		}
		if <-reply {
			return
		}
	}
}

// emptyTimeout answers an emptyTick: true when the watcher can stop.
func (j *Job) emptyTimeout(at time.Duration) bool {
	if j.stage != stageRunning {
		return true
	}
	timeout := time.Duration(j.cfg.EmptyRoomTimeout)
	if j.emptyAt >= 0 && at-j.emptyAt >= timeout {
		j.beginStop(nil, fmt.Sprintf("the room was empty for %s", timeout))
		return true
	}
	return false
}
