// Package middleware is the echo v4 side of errkit: it gives every response
// a request ID, renders every error as the contract's envelope, hides
// INTERNAL causes behind logged request IDs, and recovers panics.
//
// The common case is one call:
//
//	e := echo.New()
//	if err := middleware.Install(e, middleware.Config{Logger: logger}); err != nil { ... }
//
// after which handlers return *apierror.Error values (or any error) and the
// error handler does the rest. The parts are also available one by one, in
// echo's style: RequestID, Recover, NewErrorHandler, AccessLog, BodyLimit,
// each with an XConfig, a DefaultXConfig, XWithConfig and ToMiddleware.
//
// # Request IDs
//
// Every response carries X-Request-Id: req_<ULID> (26 uppercase Crockford
// base32 characters), the same value as the requestId of an error body. The
// ID is made before the handler and later middleware run (echo also runs it
// around the router's 404/405 handlers) and stored in the request's
// context.Context; read it with RequestIDFrom(c) or RequestIDFromContext(ctx). LoggerFrom(c)
// returns a *zap.Logger carrying the requestId field, built on first use.
//
// IDs from one process sort by creation time: the ULID's 48-bit millisecond
// timestamp is followed by the nanosecond within that millisecond (both from
// the monotonic clock) and 60 random bits, so when one ID is generated
// before another starts (same goroutine, or goroutines that synchronise),
// the first sorts before the second even within the same millisecond.
// Generation takes no lock and, on Linux, writes no shared memory: a clock
// read, a random number from the runtime's per-thread generator and the
// encoding (where the clock is coarser than a nanosecond, one atomic maximum
// keeps the time bits strictly increasing).
// The random bits also make IDs unguessable from one another.
//
// An inbound X-Request-Id is ignored unless RequestIDConfig.TrustInbound is
// set, and then accepted only when it is a single well-formed req_<ULID>
// (ValidRequestID). Anything else is neither echoed nor logged.
//
// # Error mapping
//
// The error handler renders an *apierror.Error found anywhere in the error's
// chain (errors.As) with its code's status, message and details. A
// *PanicError (from Recover) is always INTERNAL. Errors from echo, its
// router and middleware are mapped as follows; the first matching row wins:
//
//	error                                              code                status
//	*PanicError (a recovered panic)                    INTERNAL            500
//	*apierror.Error in the chain                       its code            its status
//	*http.MaxBytesError (errkit BodyLimit, MaxBytesReader) PAYLOAD_TOO_LARGE, details.maxBytes = limit 413
//	*echo.BindingError (query/path/form value binders) VALIDATION, issue {field, "has an invalid value."} 422
//	HTTPError 400 with *json.SyntaxError               VALIDATION, issue {"body", "... syntax error at byte offset N"} 422
//	HTTPError 400 with *json.UnmarshalTypeError        VALIDATION, issue {field, "must be <json type>, got <json type>."} 422
//	HTTPError 400 with io.EOF / io.ErrUnexpectedEOF    VALIDATION, issue {"body", "... ends too early"} 422
//	HTTPError 400 with `json: unknown field "x"`       VALIDATION, issue {"x", "is not a known field."} 422
//	HTTPError 400 with any other internal error        VALIDATION, issue {"request", "The request could not be parsed."} 422
//	HTTPError 400 "missing key in ..." (echo KeyAuth)  UNAUTHENTICATED     401
//	HTTPError 400 without internal error               VALIDATION, issue {"request", its message if short and printable} 422
//	HTTPError 401 (echo-jwt, KeyAuth, BasicAuth)       UNAUTHENTICATED     401
//	HTTPError 403 (CSRF, ...)                          UNAUTHENTICATED     401
//	HTTPError 404 (router: no route), 410              NOT_FOUND           404
//	HTTPError 405 (router: method not allowed)         NOT_FOUND, Allow header kept 404
//	HTTPError 411                                      VALIDATION, issue {"header:Content-Length", ...} 422
//	HTTPError 413 (echo BodyLimit)                     PAYLOAD_TOO_LARGE, details.maxBytes = ErrorHandlerConfig.MaxBodyBytes when set 413
//	HTTPError 414                                      VALIDATION, issue {"url", ...} 422
//	HTTPError 415 (Bind: unsupported media type)       VALIDATION, issue {"header:Content-Type", ...} 422
//	HTTPError 422                                      VALIDATION, issue {"request", its message if short and printable} 422
//	HTTPError 429 (echo RateLimiter)                   RATE_LIMITED, retryAfterMs from a Retry-After already set, else DefaultRetryAfter 429
//	HTTPError 431                                      VALIDATION, issue {"header", ...} 422
//	HTTPError 5xx, with or without internal error      INTERNAL            500
//	HTTPError 409                                      CONFLICT, details.reason "conflict" 409
//	HTTPError 408, 425 (the same request may succeed later) INTERNAL        500
//	any other HTTPError 4xx (402, 406, 408, 412, ...)  VALIDATION, issue {"request", its message if short and printable, else the status text} 422
//	any other error                                    INTERNAL            500
//
// INTERNAL always has the fixed generic message and no details: neither the
// error's text nor an echo message ever reaches a body or a header. Messages
// of echo 4xx errors are only reused when the error has no internal error,
// and only when short, valid UTF-8 and free of control characters.
//
// The code set is fixed, so there is no METHOD_NOT_ALLOWED: a 405 answers
// NOT_FOUND (the route does not exist for that method), keeping the Allow
// header the router set. A 403 from echo middleware (CSRF, IP filters)
// answers UNAUTHENTICATED, the only code of the set meaning "these
// credentials do not let you in" without a guaranteed detail errkit could
// not fill (FORBIDDEN_SCOPE needs the required scope: return
// apierror.ForbiddenScope yourself).
//
// # Headers
//
// Headers an earlier middleware set on the response (RateLimit-*, a kill
// switch's Retry-After) are kept. The handler sets X-Request-Id,
// Content-Type: application/json, and Retry-After for RATE_LIMITED
// (apierror.RetryAfterSeconds of details.retryAfterMs), CIRCUIT_OPEN
// (details.retryAfterSeconds) and PLATFORM_ERROR with retryAfterMs.
//
// # Logging
//
// Each error response is logged once, with requestId, code, status, method,
// route (c.Path(), the route template) and error (the full cause); panics add
// stack. INTERNAL and WORKFLOW_START_FAILED are logged at error level, other
// 5xx at ErrorHandlerConfig.UpstreamErrorLevel, 4xx at ClientErrorLevel.
//
// Middleware that write a response themselves instead of returning an error
// (echo's Timeout middleware, CORS preflight answers) bypass the error
// handler; their responses still carry X-Request-Id.
package middleware
