// Package middleware is errkit's echo v4 adapter: it gives every response a
// request ID, renders every error as the contract's envelope, hides INTERNAL
// causes behind logged request IDs, and recovers panics. It holds no
// contract logic of its own: it translates echo's context and errors and
// calls errkit's framework-free core (requestid, httperror, accesslog,
// principal and the concern packages), so an echo service answers the same
// bytes as a net/http one (package nethttp).
//
// echo has its own package named middleware, which nearly every echo
// service imports, so import this one under another name:
//
//	import (
//		"github.com/labstack/echo/v4"
//		echomw "github.com/labstack/echo/v4/middleware" // if you use echo's too
//
//		"github.com/layershq/errkit/apierror"
//		errkitmw "github.com/layershq/errkit/middleware"
//	)
//
// The common case is one call:
//
//	e := echo.New()
//	if err := errkitmw.Install(e, errkitmw.Config{Logger: logger}); err != nil { ... }
//
// after which handlers return *apierror.Error values (or any error) and the
// error handler does the rest. The parts are also available one by one, in
// echo's style ([RequestID], [Recover], [AccessLog], [BodyLimit], and the
// concern middleware [RateLimit], [KillSwitch] and [Idempotency]): each
// has an XConfig with a Skipper, X(), XWithConfig(cfg), which panics on a
// configuration error as echo's own middleware do, and cfg.ToMiddleware(),
// which returns the error instead. [NewErrorHandler] builds the error
// handler; [HTTPErrorHandler] is the one with the defaults.
//
// Errors are returned, never rendered by the middleware that raise them:
// whatever runs the chain hands them to the error handler, which renders
// each error once per request. [AccessLog] is the one exception: it has the
// error rendered first, so that its line has the final status and code,
// and still returns the error, so that outer middleware see it; the error
// handler does not render or log the same error again (echo's own Logger
// and RequestLogger middleware, which call c.Error and return the error
// too, are handled the same way).
//
// # Request IDs
//
// Every response carries X-Request-Id: req_<ULID>, the same value as the
// requestId of an error body (see package requestid for the format and how
// IDs sort). The ID is made before the handler and later middleware run
// (echo also runs Install's middleware around the router's 404/405
// handlers) and stored in the request's context.Context, so it survives
// c.SetRequest(r.WithContext(...)). Read it with [RequestIDFrom](c) or
// requestid.FromContext(ctx); [LoggerFrom](c) and requestid.Logger(ctx)
// return the request's *slog.Logger, which carries the requestId
// attribute. An inbound X-Request-Id is ignored unless
// [RequestIDConfig].TrustInbound is set, and then accepted only when it is
// a single well-formed ID; anything else is neither echoed nor logged.
//
// # Error mapping
//
// The error handler renders through httperror's one render path. An
// *apierror.Error found anywhere in the error's chain renders with its
// code's status, message and details; a recovered panic
// (*httperror.PanicError) is always INTERNAL. echo's own errors are first
// described for the core: an *echo.HTTPError becomes an
// httperror.StatusError with its status, its message when it is a string,
// and its internal error; an *echo.BindingError one that names the field
// that failed to bind. The table that then applies is
// [httperror.Mapping], the one the code runs; the README's table is
// generated from it, so it is not repeated here.
//
// INTERNAL always has the contract's fixed message and no details: neither
// an error's text nor an echo message ever reaches a body or a header. An
// echo message is reused in a VALIDATION issue only when the error has no
// internal error and the message is short, valid UTF-8 and free of control
// characters. The code set is fixed, so a 405 answers NOT_FOUND (keeping
// the Allow header the router set) and a 403 from echo middleware (CSRF, IP
// filters) answers UNAUTHENTICATED; return apierror.ForbiddenScope yourself
// for a missing scope.
//
// # Headers
//
// An error response carries X-Request-Id, Content-Type: application/json,
// Cache-Control: no-store, X-Content-Type-Options: nosniff and, for
// RATE_LIMITED, CIRCUIT_OPEN and PLATFORM_ERROR with a wait, Retry-After in
// whole seconds rounded up. Headers an earlier middleware set on the
// response (RateLimit-*, a kill switch's Retry-After, Allow) are kept. A
// HEAD request gets the status and headers without a body. When the
// response is already committed nothing is written and the error is
// logged.
//
// # Logging
//
// Logging is log/slog: [Config].Logger is the base of every logger errkit
// uses (a service on zap passes slog.New(zapslog.NewHandler(core))). Each
// error response is logged once, with requestId, code, status, method,
// route (c.Path(), the route template, never the raw path) and, when it
// adds anything to the code, error (the full cause); a recovered panic adds
// stack. INTERNAL and WORKFLOW_START_FAILED are logged at error level,
// other 5xx at [ErrorHandlerConfig].UpstreamErrorLevel (default warn), 4xx
// at [ErrorHandlerConfig].ClientErrorLevel (default debug). The levels are
// slog.Leveler values, so a *slog.LevelVar changes them at run time.
//
// Middleware that write a response themselves instead of returning an error
// (echo's Timeout middleware, CORS preflight answers) bypass the error
// handler; their responses still carry X-Request-Id.
package middleware
