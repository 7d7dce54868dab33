package middleware

import (
	"os"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Field names of every line errkit logs.
const (
	fieldRequestID = "requestId"
	fieldCode      = "code"
	fieldStatus    = "status"
	fieldMethod    = "method"
	fieldRoute     = "route"
	fieldStack     = "stack"
	fieldLatency   = "latency"
)

// defaultLogger is the logger used when a config leaves Logger nil: JSON
// lines at info level and above on stderr, so that an INTERNAL error is never
// silently dropped by a zero config.
var defaultLogger = sync.OnceValue(func() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(os.Stderr), zapcore.InfoLevel))
})

// orDefault returns l, or the default logger when l is nil.
func orDefault(l *zap.Logger) *zap.Logger {
	if l != nil {
		return l
	}
	return defaultLogger()
}

// DefaultLogger returns the logger every errkit package uses when its config
// leaves Logger nil: zap's production JSON encoding, info level and above,
// on stderr. It is one process-wide *zap.Logger, so that errors and outages
// are never silently dropped by a zero config (zap.L() is a no-op until the
// service replaces it).
func DefaultLogger() *zap.Logger { return defaultLogger() }
