//go:build race

package worker

// raceEnabled: the race detector is on, whose shadow memory makes RSS grow
// with every allocation, freed or not.
const raceEnabled = true
