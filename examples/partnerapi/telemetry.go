package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/otelerrkit"
)

// metricsPath is where the demo serves its metrics.
const metricsPath = "/metrics"

// telemetry is the demo's OpenTelemetry wiring, the way a service does it:
// errkit's otelerrkit Hook on an SDK meter provider whose reader is OTel's
// Prometheus exporter (its own registry, served at GET /metrics), and,
// with Config.Traces, an SDK tracer provider printing every span, whose
// server spans otelhttp starts around the whole API.
//
// The Hook goes into the Config.Events of every errkit part the server
// builds (each framework's Install, which hands it to the error writer;
// the limiters, the throttle, the kill switches, the idempotency guard and
// the Redis stores), rather than into each request's context
// (event.NewContext), which would cost every request a copy of itself;
// and the stores' events outside any request (a kill-switch resync that
// fails) reach it too.
//
// otelhttp starts the spans of every framework: labstack's echo-otel
// middleware is not on the module proxy this demo builds from, and
// otelhttp around the handler is the equivalent span start for echo too
// (a span per request, the W3C trace context of the request honoured).
type telemetry struct {
	hook    event.Hook               // nil: neither metrics nor traces
	metrics http.Handler             // nil: no /metrics
	meter   *sdkmetric.MeterProvider // nil: no metrics
	tracer  *sdktrace.TracerProvider // nil: no traces
}

// newTelemetry builds the telemetry cfg asks for: metrics when cfg.Metrics,
// traces printed to cfg.Traces when it is set.
func newTelemetry(cfg Config) (*telemetry, error) {
	t := &telemetry{}
	var mp metric.MeterProvider = metricnoop.NewMeterProvider()
	if cfg.Metrics {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg))
		if err != nil {
			return nil, err
		}
		t.meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
		mp = t.meter
		t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	if cfg.Traces != nil {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(cfg.Traces))
		if err != nil {
			return nil, errors.Join(err, t.close())
		}
		// Synchronous: a span is printed as it ends, so the output is in
		// request order and nothing is left to flush when a test reads it.
		t.tracer = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	}
	if t.meter == nil && t.tracer == nil {
		return t, nil
	}
	hook, err := otelerrkit.New(otelerrkit.Config{MeterProvider: mp})
	if err != nil {
		return nil, errors.Join(err, t.close())
	}
	t.hook = hook
	return t, nil
}

// logger returns l, adding trace_id and span_id to its lines when traces
// are on (errkit logs an INTERNAL's cause with the request's context, so
// its line then names the trace).
func (t *telemetry) logger(l *slog.Logger) *slog.Logger {
	if t.tracer == nil {
		return l
	}
	return slog.New(otelerrkit.LogHandler(l.Handler()))
}

// wrap returns api with the telemetry around it: GET /metrics answered
// before the API (no key, no rate limit, no span, not counted), and every
// other request traced when traces are on.
func (t *telemetry) wrap(api http.Handler) http.Handler {
	h := api
	if t.tracer != nil {
		h = otelhttp.NewHandler(h, "partnerapi",
			otelhttp.WithTracerProvider(t.tracer),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // /metrics is errkit's alone
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
	}
	if t.metrics == nil {
		return h
	}
	metrics, traced := t.metrics, h
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == metricsPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		traced.ServeHTTP(w, r)
	})
}

// close shuts the providers down, printing the spans not yet printed.
func (t *telemetry) close() error {
	var errs []error
	if t.tracer != nil {
		errs = append(errs, t.tracer.Shutdown(context.Background()))
	}
	if t.meter != nil {
		errs = append(errs, t.meter.Shutdown(context.Background()))
	}
	return errors.Join(errs...)
}
