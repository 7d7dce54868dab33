package otelerrkit

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// The log attributes [LogHandler] adds, the names OpenTelemetry's log data
// model gives them.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler returns a slog.Handler that passes every record to next, with
// trace_id and span_id (lowercase hex) added when the record was logged
// with a context that carries a valid span context, such as errkit's log
// line of an INTERNAL response, which the error writer logs with the
// request's context. Records logged without one pass unchanged. Loggers
// derived with With and WithGroup keep adding them (inside the group, for
// WithGroup).
func LogHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(*logHandler); ok {
		return h // already adds them
	}
	return &logHandler{next: next}
}

// logHandler is [LogHandler]'s handler.
type logHandler struct{ next slog.Handler }

// Enabled reports whether next handles level.
func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the span context of ctx to r and passes it on.
func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone() // the caller's record stays as it was
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns the handler of next.WithAttrs(attrs).
func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns the handler of next.WithGroup(name).
func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{next: h.next.WithGroup(name)}
}
