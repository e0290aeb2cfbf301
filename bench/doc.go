// Command bench measures roomcast side by side with ffmpeg's CLI doing the
// same decode, composite and encode work on the same inputs, in one run, and
// writes bench/results.md. Run it with `make bench`.
//
// CPU time and peak RSS come from the kernel's rusage of each child process,
// so nothing but Go and ffmpeg is needed. The serve part (`-only serve`)
// runs `roomcast serve` as a backend would and reads what rusage cannot
// give for a process still running from /proc: its RSS, its own CPU apart
// from its jobs' processes, and theirs.
package main
