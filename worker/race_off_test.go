//go:build !race

package worker

// raceEnabled: the race detector is off.
const raceEnabled = false
