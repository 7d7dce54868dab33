package echo5

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/layershq/errkit/accesslog"
)

// AccessLogConfig configures the AccessLog middleware.
type AccessLogConfig struct {
	// Skipper skips the middleware for a request. Default: never skip.
	Skipper middleware.Skipper

	// Logger receives the lines. Default requestid.DefaultLogger()
	// ([Install] passes its own default).
	Logger *slog.Logger

	// Level is the level of the lines. Default (nil): slog.LevelInfo.
	Level slog.Leveler
}

// DefaultAccessLogConfig is the default AccessLog configuration.
var DefaultAccessLogConfig = AccessLogConfig{Skipper: middleware.DefaultSkipper}

// AccessLog returns the AccessLog middleware with the default configuration.
//
// It writes one line per request through accesslog.Logger: requestId,
// method, route (the route template c.Path()), status, latency and code
// (only when the response is an error the errkit error handler rendered).
// Register it after RequestID and before Recover ([Install] does, when
// Config.AccessLog is set). When the chain below returns an error it has
// e.HTTPErrorHandler render it first, as echo's RequestLogger with
// HandleError does, so that the line has the final status (read with
// echo.ResolveResponseStatus) and code, and then returns the error, so that
// outer middleware still see it; the errkit error handler does not render
// the same error twice.
func AccessLog() echo.MiddlewareFunc { return AccessLogWithConfig(DefaultAccessLogConfig) }

// AccessLogWithConfig returns the AccessLog middleware with cfg. It panics
// on a configuration error; use cfg.ToMiddleware to get the error instead.
func AccessLogWithConfig(cfg AccessLogConfig) echo.MiddlewareFunc { return mustMiddleware(cfg) }

// ToMiddleware returns the AccessLog middleware for cfg; it implements
// echo.MiddlewareConfigurator. Every field's zero value has a default, so
// it currently never fails.
func (cfg AccessLogConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	skipper := cfg.Skipper
	if skipper == nil {
		skipper = middleware.DefaultSkipper
	}
	log := accesslog.New(accesslog.Config{Logger: cfg.Logger, Level: cfg.Level})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if skipper(c) {
				return next(c)
			}
			start := time.Now()
			err := next(c)
			if err != nil {
				if e := c.Echo(); e != nil && e.HTTPErrorHandler != nil {
					e.HTTPErrorHandler(c, err)
				}
			}
			_, status := echo.ResolveResponseStatus(c.Response(), err)
			log.Log(c.Request(), c.Path(), status, time.Since(start))
			return err
		}
	}, nil
}
