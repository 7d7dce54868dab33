package otelerrkit_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/otelerrkit"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// benchWriter is a ResponseWriter reused across iterations.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkInstruments measures what the instruments add to a request, in
// one run: the same net/http service (nethttp.Install, a rate-limited
// route, otelhttp's recording SDK server span around it)
// with the otelerrkit Hook on the SDK (on) and without any Hook (off), on
// the success path (KindRequest and an allowed decision: the request ID
// on the span, one counter) and on the error path (a handler's NOT_FOUND:
// also error.type and the errors counter).
//
// Beside them, in the same run, the baselines the figures are read
// against: control pairs two uninstrumented servers (what it reports as
// added is the method's own bias); spancalls is a Hook that makes only the
// span writes the Hook must make (the request ID, error.type), with
// attributes built in advance and nothing counted, so that paired minus
// spancalls is errkit's own share; unsampled is the Hook on a span the
// sampler dropped, as on a request that is not traced (metrics only).
func BenchmarkInstruments(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	defer func() { _ = unsampled.Shutdown(context.Background()) }()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: mp})
	require.NoError(b, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The span writes of the Hook, made as cheaply as the API allows. The
	// request ID is a constant of the same length as a real one.
	requestID := []attribute.KeyValue{otelerrkit.RequestIDKey.String("req_01JBENCHBENCHBENCHBENCHBENC")}
	errorType := []attribute.KeyValue{otelerrkit.ErrorTypeKey.String(string(apierror.CodeNotFound))}
	spanCalls := func(ctx context.Context, e event.Event) {
		switch e.Kind {
		case event.KindRequest:
			trace.SpanFromContext(ctx).SetAttributes(requestID...)
		case event.KindError:
			trace.SpanFromContext(ctx).SetAttributes(errorType...)
		}
	}

	build := func(tp trace.TracerProvider, events event.Hook) http.Handler {
		lim, err := ratelimit.New(ratelimit.Config{
			KeyFunc: func(*http.Request) string { return "key_bench" },
			Classes: map[string]ratelimit.Rate{ratelimit.ClassRead: {PerSecond: 1e9, Burst: 1e9}},
			Events:  events,
		})
		require.NoError(b, err)
		mux := http.NewServeMux()
		mux.Handle("GET /ok", nethttp.RateLimit(lim)(nethttp.Handler(func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(http.StatusNoContent)
			return nil
		})))
		mux.Handle("GET /missing/{id}", nethttp.RateLimit(lim)(nethttp.Handler(func(http.ResponseWriter, *http.Request) error {
			return apierror.NotFound()
		})))
		h, err := nethttp.Install(mux, nethttp.Config{Logger: logger, Events: events})
		require.NoError(b, err)
		// The server span: otelhttp's, around the service.
		return otelhttp.NewHandler(h, "bench", otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	paths := []struct{ name, target string }{{"success", "/ok"}, {"error", "/missing/x"}}
	for _, path := range paths {
		// Paired (see paired): without and with the instruments.
		b.Run(path.name+"/control", func(b *testing.B) { paired(b, build(tp, nil), build(tp, nil), path.target) })
		b.Run(path.name+"/paired", func(b *testing.B) { paired(b, build(tp, nil), build(tp, hook), path.target) })
		b.Run(path.name+"/spancalls", func(b *testing.B) { paired(b, build(tp, nil), build(tp, spanCalls), path.target) })
		b.Run(path.name+"/unsampled", func(b *testing.B) { paired(b, build(unsampled, nil), build(unsampled, hook), path.target) })
	}
	for _, path := range paths {
		for _, inst := range []struct {
			name   string
			events event.Hook
		}{{"off", nil}, {"on", hook}} {
			b.Run(path.name+"/"+inst.name, func(b *testing.B) {
				h := build(tp, inst.events)
				r := httptest.NewRequest(http.MethodGet, path.target, nil)
				w := &benchWriter{h: http.Header{}}
				b.ReportAllocs()
				for b.Loop() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
		}
	}
}

// BenchmarkHook measures the Hook alone, on the SDK, for each event a
// request fires (KindRequest and an allowed decision on every limited
// request, KindError on an error response): each iteration starts and
// ends a recording server span, with the Hook (on) and without (off), so
// that on minus off is the Hook's cost on a fresh span.
func BenchmarkHook(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: mp})
	require.NoError(b, err)
	tracer := tp.Tracer("bench")
	// The request's context, with its request ID, as Install stamps it.
	base := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil)).Context()
	for _, ev := range []struct {
		name string
		e    event.Event
	}{
		{"request", event.Event{Kind: event.KindRequest, Method: http.MethodGet}},
		{"allowed", event.Event{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeAllowed, Method: http.MethodGet, Route: "GET /ok"}},
		{"error", event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet, Route: "GET /missing/{id}"}},
	} {
		for _, on := range []bool{false, true} {
			name := ev.name + "/off"
			if on {
				name = ev.name + "/on"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ctx, span := tracer.Start(base, "GET")
					if on {
						hook(ctx, ev.e)
					}
					span.End()
				}
			})
		}
	}
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// recordingSpan is a span that records and keeps nothing: BenchmarkHookOwn
// measures errkit's share of the Hook, without the SDK's. Its span context
// is sampled, as an SDK span's is when a request is traced.
type recordingSpan struct {
	tracenoop.Span
	n int
}

// sampled is the span context of every recordingSpan.
var sampled = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{1},
	SpanID:     trace.SpanID{1},
	TraceFlags: trace.FlagsSampled,
})

func (s *recordingSpan) SpanContext() trace.SpanContext         { return sampled }
func (s *recordingSpan) IsRecording() bool                      { return true }
func (s *recordingSpan) SetAttributes(kv ...attribute.KeyValue) { s.n += len(kv) }
func (s *recordingSpan) SetStatus(codes.Code, string)           { s.n++ }

// BenchmarkHookOwn measures errkit's own work per request: the success
// path (KindRequest and an allowed decision) and the error path (those
// and a KindError), on a span that costs nothing to annotate, so that
// what is left is the Hook's lookups, its attribute cache and its counts.
func BenchmarkHookOwn(b *testing.B) {
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: metricnoop.NewMeterProvider()})
	require.NoError(b, err)
	span := &recordingSpan{}
	base := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil)).Context()
	ctx := trace.ContextWithSpan(base, span)
	request := event.Event{Kind: event.KindRequest, Method: http.MethodGet}
	allowed := event.Event{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeAllowed, Method: http.MethodGet, Route: "GET /ok"}
	failed := event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet, Route: "GET /missing/{id}"}
	b.Run("success", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hook(ctx, request)
			hook(ctx, allowed)
		}
	})
	b.Run("error", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hook(ctx, request)
			hook(ctx, allowed)
			hook(ctx, failed)
		}
	})
}

// paired serves target with off and on back to back in each iteration and
// reports the medians of their times and of the difference, so that the
// load of a shared machine weighs on both alike.
func paired(b *testing.B, off, on http.Handler, target string) {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	w := &benchWriter{h: http.Header{}}
	var offs, ons, added []float64
	for b.Loop() {
		clear(w.h)
		t0 := time.Now()
		off.ServeHTTP(w, r)
		t1 := time.Now()
		clear(w.h)
		on.ServeHTTP(w, r)
		t2 := time.Now()
		offs = append(offs, float64(t1.Sub(t0)))
		ons = append(ons, float64(t2.Sub(t1)))
		added = append(added, float64(t2.Sub(t1)-t1.Sub(t0)))
	}
	b.ReportMetric(median(offs), "off-ns/req")
	b.ReportMetric(median(ons), "on-ns/req")
	b.ReportMetric(median(added), "added-ns/req")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHookParallel is BenchmarkHookOwn's paths on every core at once
// (run it with -cpu 2 or more): each goroutine serves its own request (its
// own request state and span), and all of them count into the same series,
// as the requests of one route do.
func BenchmarkHookParallel(b *testing.B) {
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: metricnoop.NewMeterProvider()})
	require.NoError(b, err)
	request := event.Event{Kind: event.KindRequest, Method: http.MethodGet}
	allowed := event.Event{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeAllowed, Method: http.MethodGet, Route: "GET /ok"}
	failed := event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet, Route: "GET /missing/{id}"}
	for _, path := range []struct {
		name   string
		events []event.Event
	}{{"success", []event.Event{request, allowed}}, {"error", []event.Event{request, allowed, failed}}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				base := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil)).Context()
				// Each goroutine's span on its own cache lines: what the
				// benchmark measures is the Hook's sharing, not the spans'.
				span := &new(struct {
					_ [64]byte
					s recordingSpan
					_ [64]byte
				}).s
				ctx := trace.ContextWithSpan(base, span)
				for pb.Next() {
					for _, e := range path.events {
						hook(ctx, e)
					}
				}
			})
		})
	}
}
