// Package accesslog writes one line per request: requestId, method, route
// (the route template, never the raw path), status, latency and, when the
// response is an error errkit's error writer rendered, its code. Every errkit
// adapter logs through a [Logger], so every framework logs the same fields.
package accesslog

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/layershq/errkit/internal/reqstate"
	"github.com/layershq/errkit/requestid"
)

// Config configures a [Logger].
type Config struct {
	// Logger receives the lines. Default requestid.DefaultLogger().
	Logger *slog.Logger
	// Level is the level of the lines. Default (nil): slog.LevelInfo.
	Level slog.Leveler
}

// Logger writes access lines. It is safe for concurrent use.
type Logger struct {
	log   *slog.Logger
	level slog.Leveler
}

// New returns a Logger for cfg. Every zero field has a default.
func New(cfg Config) *Logger {
	l := &Logger{log: requestid.OrDefault(cfg.Logger), level: cfg.Level}
	if l.level == nil {
		l.level = slog.LevelInfo
	}
	return l
}

// Log writes the line of r, answered with status after latency. route is
// the route template ("" outside a route). When the logger's level is off
// it costs one Enabled call.
func (l *Logger) Log(r *http.Request, route string, status int, latency time.Duration) {
	ctx := r.Context()
	level := l.level.Level()
	if !l.log.Enabled(ctx, level) {
		return
	}
	var id, code string
	if s := reqstate.From(ctx); s != nil {
		id = s.ID
		if _, c, ok := s.Rendered(); ok {
			code = c
		}
	}
	attrs := [6]slog.Attr{
		slog.String("requestId", id),
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("latency", latency),
	}
	n := 5
	if code != "" {
		attrs[5] = slog.String("code", code)
		n = 6
	}
	l.log.LogAttrs(ctx, level, "request", attrs[:n]...)
}
