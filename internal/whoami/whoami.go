// Package whoami holds the load-test baselines of examples/partnerapi: a
// server answering GET /v1/whoami with partnerapi's bearer-key lookup and
// JSON, built on each framework partnerapi is served on, bare, with echo's
// own middleware chain, and with errkit's. examples/barewhoami serves them
// for wrk; partnerapi's BenchmarkWhoami runs them in process beside the
// demo. One definition, so the two measure the same servers.
package whoami

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	echo5 "github.com/labstack/echo/v5"
	echo5mw "github.com/labstack/echo/v5/middleware"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/apierror"
	errkit5 "github.com/layershq/errkit/echo5"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// caller is what whoami answers.
type caller struct {
	KeyID          string   `json:"keyId"`
	OrganizationID string   `json:"organizationId"`
	Scopes         []string `json:"scopes"`
}

// keys are the demo keys, by SHA-256 of the secret, as partnerapi keeps them.
var keys = map[[sha256.Size]byte]caller{
	sha256.Sum256([]byte("lp_demo_full")):     {"key_full", "org_demo", []string{"content:read", "content:write", "jobs:read"}},
	sha256.Sum256([]byte("lp_demo_readonly")): {"key_readonly", "org_demo", []string{"content:read", "jobs:read"}},
	sha256.Sum256([]byte("lp_other_org")):     {"key_other", "org_other", []string{"content:read", "content:write", "jobs:read"}},
	sha256.Sum256([]byte("lp_broke")):         {"key_broke", "org_broke", []string{"content:read", "content:write", "jobs:read"}},
}

// lookup authenticates an Authorization header value as partnerapi does.
func lookup(header string) (caller, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return caller{}, false
	}
	who, ok := keys[sha256.Sum256([]byte(token))]
	return who, ok
}

// servers are the baselines, by -framework name.
var servers = map[string]func(log io.Writer) http.Handler{
	"echo4": func(log io.Writer) http.Handler {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		e.GET("/v1/whoami", func(c echo.Context) error {
			who, ok := lookup(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return echo.ErrUnauthorized
			}
			return c.JSON(http.StatusOK, who)
		})
		return e
	},
	// The chain an echo team would pick instead of errkit: echo's own
	// RequestID, RequestLogger (zap JSON lines on stderr, one per request,
	// as partnerapi's access log), Recover and RateLimiter on its memory
	// store at a rate that never limits, on the same route and lookup.
	"echo4-chain": func(log io.Writer) http.Handler {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		// zap's production JSON encoder, unsampled, as partnerapi's access log.
		logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(log), zapcore.InfoLevel))
		e.Use(
			echomw.RequestID(),
			echomw.RequestLoggerWithConfig(echomw.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRoutePath: true,
				LogValuesFunc: func(c echo.Context, v echomw.RequestLoggerValues) error {
					logger.Info("request",
						zap.String("requestId", v.RequestID), zap.String("method", v.Method),
						zap.String("route", v.RoutePath), zap.Int("status", v.Status), zap.Duration("latency", v.Latency))
					return nil
				},
			}),
			echomw.Recover(),
			echomw.RateLimiter(echomw.NewRateLimiterMemoryStore(rate.Limit(1e9))),
		)
		e.GET("/v1/whoami", func(c echo.Context) error {
			who, ok := lookup(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return echo.ErrUnauthorized
			}
			return c.JSON(http.StatusOK, who)
		})
		return e
	},
	"echo5": func(log io.Writer) http.Handler {
		e := echo5.New()
		e.GET("/v1/whoami", whoamiEcho5)
		return e
	},
	// The same chain on echo v5, as an echo v5 team would write it: echo's
	// logger is a *slog.Logger (JSON lines on stderr), which RequestLogger
	// logs to through c.Logger().
	"echo5-chain": func(log io.Writer) http.Handler {
		e := echo5.NewWithConfig(echo5.Config{Logger: slog.New(slog.NewJSONHandler(log, nil))})
		e.Use(
			echo5mw.RequestID(),
			echo5mw.RequestLoggerWithConfig(echo5mw.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogRoutePath: true,
				HandleError: true, // echo's advice: the error handler decides the status that is logged
				LogValuesFunc: func(c *echo5.Context, v echo5mw.RequestLoggerValues) error {
					c.Logger().LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
						slog.String("requestId", v.RequestID), slog.String("method", v.Method),
						slog.String("route", v.RoutePath), slog.Int("status", v.Status), slog.Duration("latency", v.Latency))
					return nil
				},
			}),
			echo5mw.Recover(),
			echo5mw.RateLimiter(echo5mw.NewRateLimiterMemoryStore(1e9)),
		)
		e.GET("/v1/whoami", whoamiEcho5)
		return e
	},
	// errkit's chain on echo v5: the like-for-like of echo5-chain.
	"echo5-errkit": func(log io.Writer) http.Handler {
		e := echo5.NewWithConfig(echo5.Config{Logger: slog.New(slog.NewJSONHandler(log, nil))})
		if err := errkit5.Install(e, errkit5.Config{AccessLog: &errkit5.AccessLogConfig{}}); err != nil {
			panic(err)
		}
		auth := func(next echo5.HandlerFunc) echo5.HandlerFunc {
			return func(c *echo5.Context) error {
				who, ok := lookup(c.Request().Header.Get(echo5.HeaderAuthorization))
				if !ok {
					return apierror.Unauthenticated()
				}
				errkit5.SetPrincipal(c, principal.Principal{KeyID: who.KeyID, OrganizationID: who.OrganizationID, Scopes: who.Scopes})
				return next(c)
			}
		}
		e.GET("/v1/whoami", func(c *echo5.Context) error {
			p, _ := errkit5.PrincipalFrom(c)
			return c.JSON(http.StatusOK, caller{p.KeyID, p.OrganizationID, p.Scopes})
		}, auth, errkit5.RateLimit(unlimited()))
		return e
	},
	// errkit's chain on echo v4: the like-for-like of echo4-chain.
	"echo4-errkit": func(log io.Writer) http.Handler {
		e := echo.New()
		e.HideBanner, e.HidePort = true, true
		if err := errkitmw.Install(e, errkitmw.Config{
			Logger: slog.New(slog.NewJSONHandler(log, nil)), AccessLog: &errkitmw.AccessLogConfig{},
		}); err != nil {
			panic(err)
		}
		auth := func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				who, ok := lookup(c.Request().Header.Get(echo.HeaderAuthorization))
				if !ok {
					return apierror.Unauthenticated()
				}
				errkitmw.SetPrincipal(c, principal.Principal{KeyID: who.KeyID, OrganizationID: who.OrganizationID, Scopes: who.Scopes})
				return next(c)
			}
		}
		e.GET("/v1/whoami", func(c echo.Context) error {
			p, _ := errkitmw.PrincipalFrom(c)
			return c.JSON(http.StatusOK, caller{p.KeyID, p.OrganizationID, p.Scopes})
		}, auth, errkitmw.RateLimit(unlimited()))
		return e
	},
	"nethttp": func(log io.Writer) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
			who, ok := lookup(r.Header.Get("Authorization"))
			if !ok {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(who)
		})
		return mux
	},
}

// unlimited is errkit's rate limiter on its memory store at a rate that never
// limits, as the chains' echo RateLimiter is.
func unlimited() *ratelimit.Limiter {
	never := ratelimit.Rate{PerSecond: 1e9, Burst: 1 << 30}
	l, err := ratelimit.New(ratelimit.Config{Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: never, ratelimit.ClassWrite: never}})
	if err != nil {
		panic(err)
	}
	return l
}

// whoamiEcho5 is the whoami handler on echo v5.
func whoamiEcho5(c *echo5.Context) error {
	who, ok := lookup(c.Request().Header.Get(echo5.HeaderAuthorization))
	if !ok {
		return echo5.ErrUnauthorized
	}
	return c.JSON(http.StatusOK, who)
}

// Names lists the baselines, sorted: echo4, echo5 and nethttp are the bare
// framework; echo4-chain and echo5-chain add echo's own RequestID,
// RequestLogger (a JSON line per request), Recover and RateLimiter (its
// memory store, at a rate that never limits); echo4-errkit and
// echo5-errkit are the same chain of errkit's adapter (Install with the
// access log, the same lookup recording the principal, errkit's rate
// limiter at a rate that never limits).
func Names() []string { return slices.Sorted(maps.Keys(servers)) }

// Handler returns the baseline called name, whose request logs (the chains'
// only) go to log as JSON lines, or an error naming the baselines.
func Handler(name string, log io.Writer) (http.Handler, error) {
	newHandler, ok := servers[name]
	if !ok {
		return nil, fmt.Errorf("whoami: no baseline %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return newHandler(log), nil
}
