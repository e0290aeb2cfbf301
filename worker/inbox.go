package worker

import "sync"

// inbox is an unbounded FIFO of notes from the graph's goroutines (outputs,
// the starting goroutine) to the job's loop. put never waits for the loop:
// the loop sometimes waits for those goroutines (a fan-out Remove waits for
// its output, which may be reporting a state change), and a blocking send
// there would deadlock. Notes are few (state changes, not packets).
type inbox struct {
	mu    sync.Mutex
	notes []any
	ready chan struct{} // holds a token while notes are pending
}

func newInbox() *inbox { return &inbox{ready: make(chan struct{}, 1)} }

func (b *inbox) put(n any) {
	b.mu.Lock()
	b.notes = append(b.notes, n)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// take returns the pending notes, oldest first.
func (b *inbox) take() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.notes
	b.notes = nil
	return n
}
