package livekit

import (
	"context"
	"fmt"
	"log/slog"

	protologger "github.com/livekit/protocol/logger"
	"github.com/livekit/protocol/logger/zaputil"
)

// sdkLogger routes the SDK's logger into our *slog.Logger, scrubbing every
// message and value: the SDK logs the server's error bodies, and the server
// echoes a rejected token in them.
//
// Levels are lowered by one step: the SDK logs at Info for routine events
// (each track subscribed) and at Error for failures it then recovers from
// (each failed reconnect attempt); what matters to an operator the connector
// reports itself.
type sdkLogger struct {
	l *slog.Logger
	r *redactor
	// hook, when set, sees every message, enabled or not, for what the SDK
	// says only in its logs. Room and Publisher set none since v2.19 (see
	// sdkworkarounds.go).
	hook func(msg string, kv []any)
}

var _ protologger.Logger = sdkLogger{}

func newSDKLogger(l *slog.Logger, r *redactor, hook func(string, []any)) sdkLogger {
	return sdkLogger{l: l.With("component", "livekit-sdk"), r: r, hook: hook}
}

func (s sdkLogger) log(level slog.Level, msg string, err error, kv []any) {
	if s.hook != nil {
		s.hook(msg, kv)
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(kv)/2+1)
	if err != nil {
		attrs = append(attrs, slog.String("error", s.r.string(err.Error())))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, slog.Any(fmt.Sprint(kv[i]), s.value(kv[i+1])))
	}
	s.l.LogAttrs(ctx, level, s.r.string(msg), attrs...)
}

// value scrubs v. Numbers and booleans cannot hold a secret; anything else is
// rendered and scrubbed as text.
func (s sdkLogger) value(v any) any {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case string:
		return s.r.string(x)
	case error:
		return s.r.string(x.Error())
	default:
		return s.r.string(fmt.Sprint(x))
	}
}

func (s sdkLogger) Debugw(msg string, kv ...any) { s.log(slog.LevelDebug-4, msg, nil, kv) }
func (s sdkLogger) Infow(msg string, kv ...any)  { s.log(slog.LevelDebug, msg, nil, kv) }
func (s sdkLogger) Warnw(msg string, err error, kv ...any) {
	s.log(slog.LevelInfo, msg, err, kv)
}
func (s sdkLogger) Errorw(msg string, err error, kv ...any) {
	s.log(slog.LevelWarn, msg, err, kv)
}

func (s sdkLogger) WithValues(kv ...any) protologger.Logger {
	args := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		args = append(args, fmt.Sprint(kv[i]), s.value(kv[i+1]))
	}
	return sdkLogger{l: s.l.With(args...), r: s.r, hook: s.hook}
}

func (s sdkLogger) WithUnlikelyValues(kv ...any) protologger.UnlikelyLogger {
	return protologger.NewUnlikelyLogger(s, kv...)
}
func (s sdkLogger) WithName(name string) protologger.Logger {
	return sdkLogger{l: s.l.With("sdk", name), r: s.r, hook: s.hook}
}
func (s sdkLogger) WithComponent(c string) protologger.Logger { return s.WithName(c) }
func (s sdkLogger) WithCallDepth(int) protologger.Logger      { return s }
func (s sdkLogger) WithItemSampler() protologger.Logger       { return s }
func (s sdkLogger) WithoutSampler() protologger.Logger        { return s }
func (s sdkLogger) WithDeferredValues() (protologger.Logger, protologger.DeferredFieldResolver) {
	return s, zaputil.NoOpDeferrer{}
}

// discardLogger is used when the caller passes no logger.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
