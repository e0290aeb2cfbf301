package muxer

import (
	"os"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestMain(m *testing.M) {
	// The crash-safety test re-executes this binary as the writer it kills.
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	// x264 and the AAC encoder log their statistics at info level.
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}
