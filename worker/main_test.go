package worker

import (
	"os"
	"testing"

	"github.com/asticode/go-astiav"
)

func TestMain(m *testing.M) {
	// FFmpeg's log level is process-wide; the binary sets it in main.
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}
