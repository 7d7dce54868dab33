// Package httperror is errkit's one render path: it writes any error as the
// contract's envelope onto an http.ResponseWriter, whatever router served
// the request. Every errkit adapter (net/http, echo v4, echo v5) renders
// through a [Writer], so every framework answers the same bytes.
//
// For an error err, [Writer.Write]:
//   - maps err onto the contract (see [Writer.Map] and the table of
//     [Mapping]): an *apierror.Error found with errors.As renders with its
//     code's status, message and details; a [*PanicError] always renders
//     INTERNAL; framework and router errors, described as a [*StatusError],
//     map by status; anything else is INTERNAL;
//   - sets X-Request-Id, equal to the body's requestId (a fresh ID when the
//     request was not stamped by requestid), Content-Type:
//     application/json, Cache-Control: no-store and X-Content-Type-Options:
//     nosniff, Connection: close when an HTTP/1.x request has a body (so
//     net/http does not wait for a body nobody read before answering), and
//     Retry-After for RATE_LIMITED (whole seconds rounded up,
//     consistent with details.retryAfterMs), CIRCUIT_OPEN
//     (details.retryAfterSeconds) and PLATFORM_ERROR with retryAfterMs;
//     every other header already set on the response is kept;
//   - writes no body for a HEAD request, and nothing at all when the
//     response is already committed (the error is still logged);
//   - logs the error once with requestId, code, status, method, route (the
//     route template, never the raw path) and, when it adds anything to the
//     code, the cause; a recovered panic adds its stack (in full once per
//     [Config].StackLogInterval per distinct stack; in between, a stackId
//     and a repeat count, so a flood of one panic is not a flood of
//     stacks). INTERNAL and
//     WORKFLOW_START_FAILED are logged at error level, other 5xx at
//     [Config].UpstreamErrorLevel, 4xx at [Config].ClientErrorLevel.
//
// INTERNAL always has the contract's fixed message and no details: neither
// an error's text nor a framework's message ever reaches a body or a
// header.
package httperror
