package middleware

import (
	"context"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// requestIDKey is the echo.Context key of the request ID.
const requestIDKey = "errkit.requestId"

// loggerKey is the echo.Context key of the request-scoped logger.
const loggerKey = "errkit.logger"

type requestIDCtxKey struct{}

// RequestIDFrom returns the request ID (req_<ULID>) the RequestID middleware
// stamped on c, or "" when it did not run.
func RequestIDFrom(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// RequestIDFromContext returns the request ID stored in a request's
// context.Context, or "" when there is none.
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// LoggerFrom returns a logger for the request that carries its requestId
// field. It never returns nil: without the middleware it returns a no-op
// logger.
func LoggerFrom(c echo.Context) *zap.Logger {
	if l, ok := c.Get(loggerKey).(*zap.Logger); ok && l != nil {
		return l
	}
	return zap.NewNop()
}
