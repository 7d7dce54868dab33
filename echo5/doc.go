// Package echo5 is errkit's echo v5 adapter: it gives every response a
// request ID, renders every error as the contract's envelope, hides
// INTERNAL causes behind logged request IDs, recovers panics, and mounts
// errkit's rate limiter, kill switches, idempotency and operator API as
// echo v5 middleware. It holds no contract logic of its own: it translates
// echo v5's context and errors and calls errkit's framework-free core
// (requestid, httperror, accesslog, principal and the concern packages),
// so an echo v5 service answers the same bytes as an echo v4 one (package
// middleware) or a net/http one (package nethttp), and shares rate-limit
// buckets, kill switches and idempotency records with them through the
// same stores.
//
// Its name clashes with neither echo's package (echo) nor echo's
// middleware package (middleware), so it needs no import alias:
//
//	import (
//		"github.com/labstack/echo/v5"
//		"github.com/labstack/echo/v5/middleware" // echo's own, if you use it
//
//		"github.com/layershq/errkit/apierror"
//		"github.com/layershq/errkit/echo5"
//	)
//
// The common case is one call:
//
//	e := echo.New()
//	if err := echo5.Install(e, echo5.Config{Logger: logger}); err != nil { ... }
//
// after which handlers, func(c *echo.Context) error, return
// *apierror.Error values (or any error) and the error handler,
// func(c *echo.Context, err error), does the rest. The parts are also
// available one by one, in echo v5's style ([RequestID], [Recover],
// [AccessLog], [BodyLimit], and the concern middleware [RateLimit],
// [KillSwitch] and [Idempotency]): each has an XConfig with a Skipper
// (echo's middleware.Skipper), X(), XWithConfig(cfg), which panics on a
// configuration error as echo's own middleware do, and cfg.ToMiddleware(),
// which returns the error instead and makes every XConfig an
// echo.MiddlewareConfigurator. [NewErrorHandler] builds the error handler;
// [HTTPErrorHandler] is the one with the defaults. [RegisterAdmin] mounts
// the kill switches' operator API on a group; [SetPrincipal] records the
// caller after authentication.
//
// # One module, two echo majors
//
// This package lives in errkit's module beside the echo v4 adapter
// (package middleware) rather than in a module of its own. The echo majors
// are kept apart by packages, which is what Go compiles and links: a
// service importing echo5 builds no echo v4 package, and one importing
// middleware builds no echo v5 package. errkit's go.mod requires both echo
// majors, but Go reads a requirement whose packages a build does not import
// only for version selection (its go.mod file): its code is neither
// downloaded nor compiled into the service. errkit's own test
// (deps_test.go) runs go list -deps on each adapter and fails when echo5's
// build contains github.com/labstack/echo/v4 (or go-redis), or
// middleware's contains github.com/labstack/echo/v5:
//
//	go list -deps ./echo5 | grep labstack    # github.com/labstack/echo/v5 and .../v5/middleware only
//
// # Errors returned, rendered once
//
// Errors are returned, never rendered by the middleware that raise them:
// whatever runs the chain hands them to the error handler, which renders
// each error once per request. [AccessLog] is the one exception: it has
// the error rendered first, so that its line has the final status and
// code, and still returns the error, so that outer middleware see it; the
// error handler does not render or log the same error again (echo's own
// RequestLogger with HandleError, which hands the error to the error
// handler and returns it too, is handled the same way).
//
// Every *apierror.Error implements StatusCode() int (echo.HTTPStatusCoder),
// so echo's RequestLogger, echo.ResolveResponseStatus and middleware built
// on them see the contract's status of a returned error without calling
// the error handler: 429 for apierror.RateLimited, 503 for a kill switch.
//
// # Request IDs
//
// Every response carries X-Request-Id: req_<ULID>, the same value as the
// requestId of an error body (see package requestid for the format). The ID
// is made before the handler and later middleware run (echo v5 runs e.Use
// middleware around the router's 404/405 handlers too) and stored in the
// request's context.Context, so it survives c.SetRequest(r.WithContext(...)).
// Read it with [RequestIDFrom](c) or requestid.FromContext(ctx);
// [LoggerFrom](c) and requestid.Logger(ctx) return the request's
// *slog.Logger, which carries the requestId attribute. An inbound
// X-Request-Id is ignored unless [RequestIDConfig].TrustInbound is set,
// and then accepted only when it is a single well-formed ID; anything else
// is neither echoed nor logged.
//
// # Error mapping
//
// The error handler renders through httperror's one render path. An
// *apierror.Error found anywhere in the error's chain renders with its
// code's status, message and details; a recovered panic is always
// INTERNAL. echo v5's own errors are first described for the core
// (httperror.Config.Translate), by their status as echo.HTTPStatusCoder
// reports it, never by a *echo.HTTPError type assertion, which v5's
// predefined errors would fail (labstack/echo#3063: every 404 a 500):
//
//   - echo's predefined errors (echo.ErrNotFound, echo.ErrMethodNotAllowed,
//     echo.ErrTooManyRequests, echo.ErrUnauthorized, ...), values of an
//     unexported type with only StatusCode(), give their status and status
//     text;
//   - an *echo.HTTPError gives its status, its message and the error it
//     wraps (HTTPError has no public Internal field: it is read with
//     Unwrap), which is logged, never sent; a JSON decode error wrapped by
//     c.Bind is recognised in it;
//   - an *echo.BindingError (echo.QueryParamsBinder, echo.QueryParam[T],
//     ...) names the parameter that failed to bind;
//   - echo's *middleware.PanicStackError (from echo's own Recover), whose
//     Error text holds the stack, is rendered exactly as errkit's
//     *httperror.PanicError: INTERNAL, whatever the panic value, with the
//     stack logged under "stack".
//
// The table that then applies is httperror.Mapping, the one the code runs;
// the README's table is generated from it, so it is not repeated here.
// INTERNAL always has the contract's fixed message and no details: neither
// an error's text nor an echo message ever reaches a body or a header. An
// echo message is reused in a VALIDATION issue only when the error wraps no
// other error and the message is short, valid UTF-8 and free of control
// characters. The code set is fixed, so a 405 answers NOT_FOUND, keeping
// the Allow header the router set, and a 403 from echo middleware (CSRF,
// IP filters) answers UNAUTHENTICATED; return apierror.ForbiddenScope
// yourself for a missing scope.
//
// echo v5 groups with middleware register RouteNotFound routes for their
// prefix (v5.3.0+), which the router prefers over its 405: a PUT to a
// group's GET-only path is answered by the group's 404 route, without
// Allow. The error handler gives such a NOT_FOUND the Allow header the 405
// would have had, found by asking the router which methods it serves at
// the path.
//
// # Headers
//
// An error response carries X-Request-Id, Content-Type: application/json,
// Cache-Control: no-store, X-Content-Type-Options: nosniff and, for
// RATE_LIMITED, CIRCUIT_OPEN and PLATFORM_ERROR with a wait, Retry-After in
// whole seconds rounded up. Headers an earlier middleware set on the
// response (RateLimit-*, a kill switch's Retry-After, Allow) are kept. A
// HEAD request gets the status and headers without a body. When the
// response is already committed, as echo.UnwrapResponse(c.Response())
// reports it, nothing is written and the error is logged.
//
// # Logging
//
// Logging is log/slog, echo v5's own logger type: [Config].Logger is the
// base of every logger errkit uses, and defaults to e.Logger. Each error
// response is logged once, with requestId, code, status, method, route
// (c.Path(), the route template, never the raw path) and, when it adds
// anything to the code, error (the full cause); a recovered panic adds
// stack. INTERNAL and WORKFLOW_START_FAILED are logged at error level,
// other 5xx at [ErrorHandlerConfig].UpstreamErrorLevel (default warn), 4xx
// at [ErrorHandlerConfig].ClientErrorLevel (default debug). The levels are
// slog.Leveler values, so a *slog.LevelVar changes them at run time. A
// service on zap passes slog.New(zapslog.NewHandler(core)).
//
// Middleware that write a response themselves instead of returning an error
// (echo's ContextTimeout with its own handler, CORS preflight answers)
// bypass the error handler; their responses still carry X-Request-Id.
package echo5
