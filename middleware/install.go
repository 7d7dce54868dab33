package middleware

import (
	"errors"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// Config is the configuration of Install.
type Config struct {
	// Logger is used by every part whose own Logger field is nil: the
	// request-scoped loggers, the error handler and the access log.
	// Default: JSON lines at info level on stderr.
	Logger *zap.Logger

	// RequestID configures the request IDs (for example TrustInbound).
	RequestID RequestIDConfig

	// Recover configures panic recovery.
	Recover RecoverConfig

	// ErrorHandler configures the error handler. Its zero value means
	// DefaultErrorHandlerConfig (4xx at info, upstream 5xx at warn).
	ErrorHandler ErrorHandlerConfig

	// AccessLog, when not nil, adds the AccessLog middleware.
	AccessLog *AccessLogConfig
}

// Install wires errkit into e, in the order that makes every response carry
// a request ID and every error the contract's envelope:
//
//  1. e.Pre(RequestID): before routing, so router 404/405 responses and
//     everything else get an ID;
//  2. e.Pre(AccessLog), when cfg.AccessLog is set;
//  3. e.Pre(Recover): panics in any later Pre or Use middleware, the router
//     or a handler become INTERNAL;
//  4. e.HTTPErrorHandler = NewErrorHandler(cfg.ErrorHandler).
//
// Middleware the service adds later with e.Use or e.Pre run inside these.
// Install returns an error, and changes nothing, when e is nil or a config
// is invalid.
func Install(e *echo.Echo, cfg Config) error {
	if e == nil {
		return errors.New("errkit/middleware: Install: nil *echo.Echo")
	}
	rcfg := cfg.RequestID
	if rcfg.Logger == nil {
		rcfg.Logger = cfg.Logger
	}
	reqID, err := rcfg.ToMiddleware()
	if err != nil {
		return err
	}
	recov, err := cfg.Recover.ToMiddleware()
	if err != nil {
		return err
	}
	hcfg := cfg.ErrorHandler
	if hcfg == (ErrorHandlerConfig{}) {
		hcfg = DefaultErrorHandlerConfig
	}
	if hcfg.Logger == nil {
		hcfg.Logger = cfg.Logger
	}
	handler, err := NewErrorHandler(hcfg)
	if err != nil {
		return err
	}
	pre := []echo.MiddlewareFunc{reqID}
	if cfg.AccessLog != nil {
		acfg := *cfg.AccessLog
		if acfg.Logger == nil {
			acfg.Logger = cfg.Logger
		}
		access, err := acfg.ToMiddleware()
		if err != nil {
			return err
		}
		pre = append(pre, access)
	}
	pre = append(pre, recov)
	e.Pre(pre...)
	e.HTTPErrorHandler = handler
	return nil
}
