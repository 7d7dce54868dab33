package redisstore

import (
	"log/slog"

	"github.com/layershq/errkit/internal/redisclient"
)

// SetLogger sends go-redis's own log output (connection pool and cluster
// messages, plain text on stderr by default) through l as structured
// records at level Warn, with component "go-redis" and the request ID when
// there is one; nil means requestid.DefaultLogger(). go-redis has one
// logger per process, so this is process-wide: call it once at start-up,
// before creating clients. Every errkit redisstore package offers the same
// function; calling any one of them is enough.
func SetLogger(l *slog.Logger) { redisclient.SetLogger(l) }
