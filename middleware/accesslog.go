package middleware

import (
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// AccessLogConfig configures the AccessLog middleware.
type AccessLogConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper echomw.Skipper

	// Logger receives the lines. Default: JSON lines at info level on
	// stderr.
	Logger *zap.Logger

	// Level is the level of the lines. The zero value is zapcore.InfoLevel.
	Level zapcore.Level
}

// DefaultAccessLogConfig is the default AccessLog configuration.
var DefaultAccessLogConfig = AccessLogConfig{Skipper: echomw.DefaultSkipper, Level: zapcore.InfoLevel}

// AccessLog returns the AccessLog middleware with the default configuration.
//
// It writes one line per request ("request") with requestId, method, route
// (the route template), status, code (only when the response is an error
// the errkit error handler rendered) and latency. Register it after
// RequestID and before Recover (Install does, when Config.AccessLog is set).
// When the chain below returns an error, it hands the error to the error
// handler itself (c.Error) so that the line has the final status and code,
// and returns nil: the error is still rendered exactly once.
func AccessLog() echo.MiddlewareFunc { return AccessLogWithConfig(DefaultAccessLogConfig) }

// AccessLogWithConfig returns the AccessLog middleware with cfg. It panics
// on a configuration error; use cfg.ToMiddleware to get the error instead.
func AccessLogWithConfig(cfg AccessLogConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the AccessLog middleware for cfg. Every field's zero
// value has a default, so it currently never fails.
func (cfg AccessLogConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = echomw.DefaultSkipper
	}
	log := orDefault(cfg.Logger)
	level := cfg.Level
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			ce := log.Check(level, "request")
			if ce == nil {
				return nil
			}
			var id, code string
			if s := stateFrom(c); s != nil {
				id = s.id
				if s.renderedErr {
					code = s.code
				}
			}
			fields := []zap.Field{
				zap.String(fieldRequestID, id),
				zap.String(fieldMethod, c.Request().Method),
				zap.String(fieldRoute, c.Path()),
				zap.Int(fieldStatus, c.Response().Status),
				zap.Duration(fieldLatency, time.Since(start)),
			}
			if code != "" {
				fields = append(fields, zap.String(fieldCode, code))
			}
			ce.Write(fields...)
			return nil
		}
	}, nil
}
