package jobstate

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// Part is one run of a job on one node. A job runs in one part unless its
// node dies or is drained with migration: another node then continues the
// job into the next part, with files of their own names (PartFile), so that
// every part's files can sit side by side in one listing.
type Part struct {
	// Part numbers the parts from 1.
	Part int    `json:"part"`
	Node string `json:"node"`
	// Why the part began: "start", "failover" (its node stopped answering)
	// or "migrate" (its node was drained with --migrate).
	Cause     string     `json:"cause"`
	StartedAt time.Time  `json:"startedAt"`
	EndedAt   *time.Time `json:"endedAt"`
	// GapSeconds is the time between the previous part's end and this
	// part's start: what the output lacks there.
	GapSeconds float64 `json:"gapSeconds"`
	// Files are the part's outputs, relative to the job's folder on Node.
	Files []string `json:"files"`
}

// Causes of a part.
const (
	PartStart    = "start"
	PartFailover = "failover"
	PartMigrate  = "migrate"
)

// PartFile names an output file or folder of part n: the first part's
// names are the plain ones (recording.mp4, hls), later parts' carry their
// number before the extension (recording.part2.mp4, hls.part2).
func PartFile(name string, n int) string {
	if n <= 1 {
		return name
	}
	dir, base := path.Split(name)
	ext := path.Ext(base)
	return dir + strings.TrimSuffix(base, ext) + ".part" + strconv.Itoa(n) + ext
}

// ResumeFile names the n-th file (n from 1) an output writes within one
// part, where name is the part's file (PartFile): the archive starts a new
// file when it resumes after a write error (a full disk), and the first
// file keeps the plain name. recording.mp4, recording.2.mp4, … and in part
// 2 recording.part2.mp4, recording.part2.2.mp4, …: the number after the
// last dot before the extension is never "partN", so a resumed file never
// takes the name of another part's file, which a failover writes on
// another node and the files listing merges.
func ResumeFile(name string, n int) string {
	if n <= 1 {
		return name
	}
	dir, base := path.Split(name)
	ext := path.Ext(base)
	return dir + strings.TrimSuffix(base, ext) + "." + strconv.Itoa(n) + ext
}
