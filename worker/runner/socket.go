package runner

import (
	"fmt"
	"os"
	"path/filepath"
)

// maxSocketPath is the longest Unix socket path Linux binds (sun_path is
// 108 bytes, with its NUL), less a margin.
const maxSocketPath = 100

// socketPath chooses where a job's process serves its HTTP: http.sock in
// its output folder, or, where that path is too long for a socket, in a new
// private folder of the system's temporary one. Only the owner may connect:
// the folder (or the job's) is 0700 or already the service's own.
func socketPath(out, id string) (string, error) {
	if p := filepath.Join(out, "http.sock"); len(p) <= maxSocketPath {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", fmt.Errorf("runner: the job's folder: %w", err)
		}
		_ = os.Remove(p) // left by a process that died
		return p, nil
	}
	dir, err := os.MkdirTemp("", "roomcast-"+id+"-")
	if err != nil {
		return "", fmt.Errorf("runner: a folder for the job's HTTP socket: %w", err)
	}
	return filepath.Join(dir, "http.sock"), nil
}
