package otelerrkit_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/otelerrkit"
)

// A net/http service with errkit's metrics: the Hook in Install's Events
// (the limiter and the guards take it in their Config.Events too), and
// otelhttp around Install for the server span the Hook annotates.
func Example() {
	reader := sdkmetric.NewManualReader() // a service uses an exporter's reader
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /projects/{id}", nethttp.Handler(func(http.ResponseWriter, *http.Request) error {
		return apierror.NotFound()
	}))
	api, err := nethttp.Install(mux, nethttp.Config{Logger: slog.New(slog.DiscardHandler), Events: hook})
	if err != nil {
		panic(err)
	}
	h := otelhttp.NewHandler(api, "partner-api")

	for _, path := range []string{"/projects/prj_a", "/projects/prj_b"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			code, _ := dp.Attributes.Value(otelerrkit.ErrorTypeKey)
			route, _ := dp.Attributes.Value(otelerrkit.RouteKey)
			fmt.Println(m.Name, code.AsString(), route.AsString(), dp.Value)
		}
	}
	// Output: errkit.errors NOT_FOUND /projects/{id} 2
}

// LogHandler names the trace on every line logged with a span's context.
func ExampleLogHandler() {
	logger := slog.New(otelerrkit.LogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // a stable output
			}
			return a
		},
	})))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	logger.ErrorContext(ctx, "request failed", "code", "INTERNAL")
	// Output: level=ERROR msg="request failed" code=INTERNAL trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7
}
