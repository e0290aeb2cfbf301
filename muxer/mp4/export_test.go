package mp4

import "time"

// SetClock makes s read the time from now (the tests run faster than real
// time and drive the once-a-second checks by the media's time).
func SetClock(s *Sink, now func() time.Time) { s.now = now }
