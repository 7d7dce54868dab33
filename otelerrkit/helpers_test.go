package otelerrkit_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/otelerrkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// telemetry is an SDK meter provider with a manual reader, an SDK tracer
// provider recording every span, and the Hook under test on them.
type telemetry struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	hook   event.Hook
}

func newTelemetry(t *testing.T, cfg otelerrkit.Config) *telemetry {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { require.NoError(t, mp.Shutdown(context.Background())) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	cfg.MeterProvider = mp
	hook, err := otelerrkit.New(cfg)
	require.NoError(t, err)
	return &telemetry{reader: reader, spans: spans, tp: tp, hook: hook}
}

// counts returns the sums of the counter name, by attribute set written
// "k=v,k=v" in key order; nil when the counter has no data.
func (tm *telemetry) counts(t *testing.T, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelerrkit.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is an int64 sum, got %T", name, m.Data)
			require.True(t, sum.IsMonotonic, "%s is a counter", name)
			out := map[string]int64{}
			for _, dp := range sum.DataPoints {
				out[setString(dp.Attributes)] += dp.Value
			}
			return out
		}
	}
	return nil
}

// setString writes an attribute set as "k=v,k=v".
func setString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// spanWith returns the ended span whose errkit.request_id is id.
func (tm *telemetry) spanWith(id string) (sdktrace.ReadOnlySpan, bool) {
	for _, s := range tm.spans.Ended() {
		for _, kv := range s.Attributes() {
			if kv.Key == otelerrkit.RequestIDKey && kv.Value.AsString() == id {
				return s, true
			}
		}
	}
	return nil, false
}

// attr returns the value of key on s, "" when it has none.
func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
