// Package mediaclock is the job's clock: real time for live rooms, or a
// virtual clock for --fast runs that jumps ahead as soon as every party that
// holds it is waiting, so a file room is processed as fast as the CPU allows
// with the same timestamps a real-time run would give.
package mediaclock
