package etcdembed

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore hands etcd's zap entries to a slog.Handler, so that the embedded member and the
// clients log like the rest of the agent: one text line per entry through the agent's handler
// and level, never JSON, never a stack trace (zap adds those to errors; the handler gets none).
//
// Levels: etcd's info lines are its own narrative (dozens at every start: listeners, raft
// state, compactions) and go to slog's debug; warn and error keep theirs, but for the warnings
// in quietWarnings, which say nothing about this use of etcd. On a clean stop etcd logs every
// listener it closes as "setting up serving from embedded etcd failed" at error level (with
// http.ErrServerClosed, net.ErrClosed or cmux's "mux: server closed") and the grpc server's as
// warnings: while the member is closing, such lines are dropped. They are what Close asked for.
type slogCore struct {
	h       slog.Handler
	floor   zapcore.Level // etcd's own level (WithLogLevel): nothing below it goes through
	attrs   []slog.Attr   // from zap's With
	closing *atomic.Bool  // set by Member.Close; nil for a client
}

func newSlogLogger(h slog.Handler, floor zapcore.Level, closing *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{h: h, floor: floor, closing: closing})
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return l >= c.floor && c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	out := *c
	out.attrs = append(append([]slog.Attr(nil), c.attrs...), fieldAttrs(fs)...)
	return &out
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// quietWarnings are etcd warnings demoted to debug: the member serves grpc and its http
// gateway on one port to the agent only, and etcd's auth (whose tokens are "simple") is off:
// mutual TLS authenticates the clients.
var quietWarnings = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	if c.closing != nil && c.closing.Load() && closedError(fs) {
		return nil
	}
	level := slogLevel(e.Level)
	if level == slog.LevelWarn && quietWarnings[e.Message] {
		level = slog.LevelDebug
	}
	if !c.h.Enabled(context.Background(), level) {
		return nil
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	r.AddAttrs(c.attrs...)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(fieldAttrs(fs)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// fieldAttrs turns zap fields into slog attributes, in order. An error is its message only
// (zap's "errorVerbose" would carry a stack).
func fieldAttrs(fs []zapcore.Field) []slog.Attr {
	out := make([]slog.Attr, 0, len(fs))
	for _, f := range fs {
		if f.Type == zapcore.ErrorType {
			if err, ok := f.Interface.(error); ok && err != nil {
				out = append(out, slog.String(f.Key, err.Error()))
			}
			continue
		}
		enc := zapcore.NewMapObjectEncoder()
		f.AddTo(enc)
		for k, v := range enc.Fields {
			out = append(out, slog.Any(k, v))
		}
	}
	return out
}

// closedError reports whether the entry's error says a listener or server was closed: what a
// clean stop produces.
func closedError(fs []zapcore.Field) bool {
	for _, f := range fs {
		if f.Type != zapcore.ErrorType {
			continue
		}
		err, ok := f.Interface.(error)
		if !ok || err == nil {
			continue
		}
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) ||
			// cmux and grpc say it in words only.
			strings.Contains(err.Error(), "server closed") || strings.Contains(err.Error(), "use of closed network connection") ||
			strings.Contains(err.Error(), "the server has been stopped") {
			return true
		}
	}
	return false
}
