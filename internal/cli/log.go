package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// NewLogger makes the slog logger --log-level and --log-format ask for. An
// empty level is info, or warn on a terminal (tty), where a progress line
// shows instead.
func NewLogger(w io.Writer, level, format string, tty bool) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "":
		lv = slog.LevelInfo
		if tty {
			lv = slog.LevelWarn
		}
	default:
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
		}
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}
