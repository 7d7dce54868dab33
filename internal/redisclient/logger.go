package redisclient

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/requestid"
)

// SlogLogger is a go-redis logger (the interface redis.SetLogger takes)
// writing each line as one structured record: level Warn (go-redis logs
// only what went wrong: pool and connection trouble, cluster state
// reloads), the formatted line as the message, component "go-redis", and
// the request ID when the context carries one.
type SlogLogger struct {
	// Logger receives the records; nil means requestid.DefaultLogger().
	Logger *slog.Logger
}

// Printf implements go-redis's logging interface.
func (l SlogLogger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	lg := requestid.OrDefault(l.Logger)
	if !lg.Enabled(ctx, slog.LevelWarn) {
		return
	}
	msg := strings.TrimSpace(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	attrs := []slog.Attr{slog.String("component", "go-redis")}
	if id := requestid.FromContext(ctx); id != "" {
		attrs = append(attrs, slog.String("requestId", id))
	}
	lg.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// SetLogger sends go-redis's own log output, process-wide, through l (nil:
// requestid.DefaultLogger()) instead of plain text on stderr. go-redis has
// one logger per process, so the last call wins.
func SetLogger(l *slog.Logger) {
	redis.SetLogger(SlogLogger{Logger: l})
}
