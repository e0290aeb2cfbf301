package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procCPU is a process's own user + system CPU time, children not included
// (those are cutime and cstime, and only once they are reaped).
func procCPU(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	// Field 3 (state) is f[0], so utime (14) and stime (15) are f[11:13].
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// procRuntime is the time pid's live threads have run, from the scheduler's
// nanosecond counts: finer than procCPU's ticks for a process that runs
// little, and exact as long as no thread ended in between.
func procRuntime(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("/proc/%d/task: no threads (%v)", pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: empty", t)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		sum += time.Duration(n)
	}
	return sum, nil
}

// procPPID is a process's parent.
func procPPID(pid int) (int, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1])
}

// statFields are /proc/PID/stat's fields from the third (state) on. The
// command name before them may hold spaces and parentheses: they start after
// the last ')'.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields, want 15 or more", pid, len(f)+2)
	}
	return f, nil
}

// descendants lists every live process below pid.
func descendants(pid int) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	kids := map[int][]int{}
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if pp, err := procPPID(p); err == nil {
			kids[pp] = append(kids[pp], p)
		}
	}
	var out []int
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		out = append(out, kids[p]...)
		todo = append(todo, kids[p]...)
	}
	return out
}

// treeCPU sums the CPU time of every live process below pid.
func treeCPU(pid int) (time.Duration, int) {
	var sum time.Duration
	ps := descendants(pid)
	for _, p := range ps {
		if c, err := procCPU(p); err == nil {
			sum += c
		}
	}
	return sum, len(ps)
}

// procMem reads memory fields of /proc/PID/status, in KiB.
func procMem(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64); err == nil {
			out[k] = n
		}
	}
	for _, k := range []string{"VmRSS", "VmHWM", "RssAnon", "RssFile"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status: no %s", pid, k)
		}
	}
	return out, nil
}

// mappedLibs counts the shared objects mapped into pid.
func mappedLibs(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0
	}
	libs := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && strings.Contains(f[5], ".so") {
			libs[f[5]] = true
		}
	}
	return len(libs)
}

// smapsRSS sums the resident KiB of pid's mappings whose path match takes.
func smapsRSS(pid int, match func(path string) bool) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0
	}
	var sum int64
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = len(f) >= 6 && match(f[5])
			continue
		}
		if in && f[0] == "Rss:" && len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += n
		}
	}
	return sum
}
