package natstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Version is the nats-server release the tests run.
const Version = "2.15.2"

// InstallCmd installs the binary FindBin looks for.
const InstallCmd = "GOFLAGS= go install github.com/nats-io/nats-server/v2@v" + Version

// FindBin returns $(go env GOPATH)/bin/nats-server when it reports Version.
func FindBin() (string, error) {
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("natstest: go env GOPATH: %w", err)
	}
	gopaths := filepath.SplitList(strings.TrimSpace(string(out)))
	if len(gopaths) == 0 {
		return "", fmt.Errorf("natstest: go env GOPATH is empty")
	}
	bin := filepath.Join(gopaths[0], "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("natstest: nats-server v%s missing (%w): install it with %s (scripts/install-deps.sh test does)", Version, err, InstallCmd)
	}
	out, err = exec.Command(bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("natstest: %s --version: %w", bin, err)
	}
	if got := strings.TrimSpace(string(out)); got != "nats-server: v"+Version {
		return "", fmt.Errorf("natstest: %s reports %q, want v%s: install it with %s", bin, got, Version, InstallCmd)
	}
	return bin, nil
}
