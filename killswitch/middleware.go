package killswitch

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/principal"
)

// KillSwitchConfig configures the kill-switch middleware.
//
// Place it after the service's authentication middleware (which records the
// principal) and before the rate limiter, so a switched-off key or
// organization is refused without consuming rate-limit tokens. To refuse
// unauthenticated traffic too while the whole API is switched off, add a
// second instance with GlobalOnly before authentication (see Global): it
// then answers KILL_SWITCH before the auth check costs anything, and the
// post-auth instance still handles key and organization switches.
type KillSwitchConfig struct {
	// Skipper skips the check for a request; see SkipPaths for exempting
	// health and admin routes. Default: never skip.
	Skipper echomw.Skipper
	// Checker answers the check: a *Memory, a *Redis or any Checker.
	// Required.
	Checker Checker
	// KeyIDFunc extracts the API key ID. Default principal.KeyID.
	KeyIDFunc func(c echo.Context) string
	// OrganizationIDFunc extracts the organization ID. Default
	// principal.OrganizationID.
	OrganizationIDFunc func(c echo.Context) string
	// GlobalOnly checks the global switch only, ignoring key and
	// organization switches and the extractors: for use before
	// authentication.
	GlobalOnly bool
	// Now returns the current time, for Retry-After. Default time.Now.
	Now func() time.Time
}

// DefaultKillSwitchConfig is the default configuration: never skip, key and
// organization from the principal. Its Checker is nil and must be set.
var DefaultKillSwitchConfig = KillSwitchConfig{
	Skipper:            echomw.DefaultSkipper,
	KeyIDFunc:          principal.KeyID,
	OrganizationIDFunc: principal.OrganizationID,
}

// KillSwitch returns the middleware refusing requests that a switch in
// checker turns off, with the default configuration. It panics when checker
// is nil.
func KillSwitch(checker Checker) echo.MiddlewareFunc {
	cfg := DefaultKillSwitchConfig
	cfg.Checker = checker
	return KillSwitchWithConfig(cfg)
}

// Global returns the middleware checking the global switch only, for use
// before authentication (GlobalOnly). It panics when checker is nil.
func Global(checker Checker) echo.MiddlewareFunc {
	cfg := DefaultKillSwitchConfig
	cfg.Checker = checker
	cfg.GlobalOnly = true
	return KillSwitchWithConfig(cfg)
}

// KillSwitchWithConfig returns the middleware for cfg. It panics on a
// configuration error, like echo's own WithConfig functions; use
// ToMiddleware to get the error instead.
func KillSwitchWithConfig(cfg KillSwitchConfig) echo.MiddlewareFunc {
	mw, err := cfg.ToMiddleware()
	if err != nil {
		panic(err)
	}
	return mw
}

// ToMiddleware returns the middleware for cfg, or an error when Checker is
// nil. Zero fields take their defaults. It never panics.
//
// A request a switch turns off is answered by returning
// apierror.KillSwitch(scope) to the error handler (the errkit middleware's
// renders the 503 envelope with details.scope); for the global switch with
// an ExpectedDuration, the Retry-After header (seconds, rounded up, at least
// 1) is set on the response first. The operator's reason, name and time are
// never part of the response. The next handler does not run.
func (cfg KillSwitchConfig) ToMiddleware() (echo.MiddlewareFunc, error) {
	if cfg.Checker == nil {
		return nil, errors.New("killswitch: KillSwitchConfig.Checker is nil")
	}
	if cfg.Skipper == nil {
		cfg.Skipper = echomw.DefaultSkipper
	}
	if cfg.KeyIDFunc == nil {
		cfg.KeyIDFunc = principal.KeyID
	}
	if cfg.OrganizationIDFunc == nil {
		cfg.OrganizationIDFunc = principal.OrganizationID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			var keyID, orgID string
			if !cfg.GlobalOnly {
				keyID, orgID = cfg.KeyIDFunc(c), cfg.OrganizationIDFunc(c)
			}
			sw, on := cfg.Checker.Check(keyID, orgID)
			if !on {
				return next(c)
			}
			if d, ok := sw.RetryAfter(cfg.Now()); ok {
				c.Response().Header().Set(echo.HeaderRetryAfter, strconv.FormatInt(apierror.RetryAfterSeconds(d), 10))
			}
			return apierror.KillSwitch(sw.Scope)
		}
	}, nil
}

// SkipPaths returns a Skipper that skips requests whose URL path matches one
// of patterns: a pattern ending in "/*" matches that prefix and everything
// below it ("/admin/*" matches "/admin", "/admin/" and "/admin/x/y"); any
// other pattern matches the path exactly.
func SkipPaths(patterns ...string) echomw.Skipper {
	exact := make(map[string]struct{})
	var prefixes []string
	for _, p := range patterns {
		if base, ok := strings.CutSuffix(p, "/*"); ok {
			prefixes = append(prefixes, base)
			continue
		}
		exact[p] = struct{}{}
	}
	return func(c echo.Context) bool {
		path := c.Request().URL.Path
		if _, ok := exact[path]; ok {
			return true
		}
		for _, base := range prefixes {
			if rest, ok := strings.CutPrefix(path, base); ok && (rest == "" || rest[0] == '/') {
				return true
			}
		}
		return false
	}
}
