package mediaclock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestVirtualAdvancesOnlyWhenNothingHeld(t *testing.T) {
	v := NewVirtual()
	ctx := context.Background()

	// A worker holds the clock; a sleeper must not wake until it lets go.
	v.Hold() // worker
	v.Hold() // sleeper
	woke := make(chan time.Duration, 1)
	go func() {
		if err := v.SleepUntil(ctx, 5*time.Second); err != nil {
			t.Error(err)
		}
		woke <- v.Now()
		v.Release()
	}()
	select {
	case <-woke:
		t.Fatal("clock advanced while held")
	case <-time.After(50 * time.Millisecond):
	}
	v.Release() // worker done
	select {
	case now := <-woke:
		if now != 5*time.Second {
			t.Fatalf("woke at %v, want 5s", now)
		}
	case <-time.After(time.Second):
		t.Fatal("clock did not advance once released")
	}
}

func TestVirtualWakesInOrder(t *testing.T) {
	v := NewVirtual()
	ctx := context.Background()
	var mu sync.Mutex
	var order []time.Duration
	var wg sync.WaitGroup
	for _, d := range []time.Duration{3, 1, 2} {
		v.Hold()
		wg.Add(1)
		go func(d time.Duration) {
			defer wg.Done()
			defer v.Release()
			if err := v.SleepUntil(ctx, d*time.Second); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, v.Now())
			mu.Unlock()
		}(d)
	}
	wg.Wait()
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("wake order %v, want %v", order, want)
		}
	}
}

func TestVirtualCancel(t *testing.T) {
	v := NewVirtual()
	v.Hold()
	v.Hold() // someone else keeps it held, so the sleep cannot complete
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- v.SleepUntil(ctx, time.Hour) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("err = %v", err)
	}
	v.Release()
	v.Release() // both holds are back: this must not panic
	if v.Now() != 0 {
		t.Fatalf("now = %v", v.Now())
	}
}

func TestRealSleep(t *testing.T) {
	r := NewReal()
	if err := r.SleepUntil(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if r.Now() < 20*time.Millisecond {
		t.Fatalf("woke early at %v", r.Now())
	}
}
