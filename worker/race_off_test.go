//go:build !race

package worker_test

// raceEnabled: the race detector is off.
const raceEnabled = false
