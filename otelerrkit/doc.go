// Package otelerrkit is errkit's OpenTelemetry integration: an
// [event.Hook] that turns every errkit outcome into span attributes and
// metrics, and a [slog.Handler] that puts the trace on every log line. It
// uses only the OpenTelemetry API (go.opentelemetry.io/otel, /metric,
// /trace); the service brings the SDK and its exporters.
//
// Wire the Hook returned by [New] into the adapter's Install (its Events
// field, which also feeds the error writer) and into the Events of the
// rate limiter, the kill-switch guards and the idempotency guard (or set
// it once for the whole server with event.NewContext in a wrapping
// handler). The server span is the one a tracing middleware mounted
// outside errkit started (otelhttp around the handler Install returns, or
// echo-otel registered before Install); the Hook never starts spans.
//
// Traces, on the active span ([trace.SpanFromContext]):
//   - every request: [RequestIDKey] (errkit.request_id) is the request ID
//     errkit answers in X-Request-Id, so the requestId of a support
//     ticket finds the trace;
//   - every error response: error.type is the contract's code (NOT_FOUND,
//     RATE_LIMITED, ...); the status is Error only for a 5xx, as the HTTP
//     conventions say of server spans (a 4xx leaves it unset);
//   - INTERNAL's cause is recorded as an exception event only when
//     [Config].RecordInternalCause is set, because it may hold secrets.
//
// Metrics, all observable counters kept by atomic adds (Prometheus appends
// _total and turns dots into underscores):
//   - [MetricErrors] (errkit.errors): error responses, by error.type,
//     http.route, http.request.method and http.response.status_code;
//   - [MetricRateLimitDecisions] (errkit.ratelimit.decisions): by
//     errkit.ratelimit.class and errkit.ratelimit.outcome (allowed, denied,
//     failed);
//   - [MetricKillSwitchBlocks] (errkit.killswitch.blocks): by
//     errkit.killswitch.scope;
//   - [MetricIdempotencyOutcomes] (errkit.idempotency.outcomes): by
//     errkit.idempotency.outcome;
//   - [MetricStoreFailures] (errkit.store.failures): failed store calls,
//     by errkit.store.component and errkit.store.policy (fail_open,
//     fail_closed; absent when none applied);
//   - [MetricStoreWarnings] (errkit.store.warnings): a store's backend
//     unsafe or losing data, by errkit.store.component and
//     errkit.store.outcome.
//
// Every attribute value comes from a fixed set: the codes, classes,
// scopes, outcomes, components and policies, the route templates the
// adapters report (one value, no http.route at all, for every request no
// route matched; a ServeMux pattern's method and host are dropped), and
// the standard methods (any other is _OTHER). No key ID, organization ID,
// raw path or message is ever an attribute, so the number of series is
// bounded by the service's routes, never by its traffic.
//
// Logs: [LogHandler] wraps the service's slog.Handler and adds trace_id and
// span_id to every line logged with a context that carries a span; errkit logs each error response (INTERNAL's cause among them) with
// the request's context, so those lines carry them.
package otelerrkit
