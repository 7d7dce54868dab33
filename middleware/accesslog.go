package middleware

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/accesslog"
)

// AccessLogConfig configures the AccessLog middleware.
type AccessLogConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper echomw.Skipper

	// Logger receives the lines. Default requestid.DefaultLogger().
	Logger *slog.Logger

	// Level is the level of the lines. Default (nil): slog.LevelInfo.
	Level slog.Leveler
}

// DefaultAccessLogConfig is the default AccessLog configuration.
var DefaultAccessLogConfig = AccessLogConfig{Skipper: echomw.DefaultSkipper}

// AccessLog returns the AccessLog middleware with the default configuration.
//
// It writes one line per request through accesslog.Logger: requestId,
// method, route (the route template), status, latency and code (only when
// the response is an error the errkit error handler rendered). Register it
// after RequestID and before Recover (Install does, when Config.AccessLog is
// set). When the chain below returns an error it has the error handler
// render it first (c.Error), so that the line has the final status and
// code, and then returns the error, so that outer middleware still see it;
// the error handler does not render the same error twice.
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
	al := cfg.logger()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { return al.serve(c, next) }
	}, nil
}

// accessLogger is a configured AccessLog middleware, separate from the
// closure so that Install can fuse it with the request IDs and recovery.
type accessLogger struct {
	skipper echomw.Skipper
	log     *accesslog.Logger
}

func (cfg AccessLogConfig) logger() *accessLogger {
	al := &accessLogger{skipper: cfg.Skipper, log: accesslog.New(accesslog.Config{Logger: cfg.Logger, Level: cfg.Level})}
	if al.skipper == nil {
		al.skipper = echomw.DefaultSkipper
	}
	return al
}

// serve runs next and writes the access line: the error is rendered first,
// so that the line has the final status and code, and then returned.
func (al *accessLogger) serve(c echo.Context, next echo.HandlerFunc) error {
	if al.skipper(c) {
		return next(c)
	}
	start := time.Now()
	err := next(c)
	if err != nil {
		c.Error(err)
	}
	al.log.Log(c.Request(), c.Path(), c.Response().Status, time.Since(start))
	return err
}
