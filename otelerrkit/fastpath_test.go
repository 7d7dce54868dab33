package otelerrkit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/otelerrkit"
	"github.com/layershq/errkit/requestid"
)

// TestConcurrentCounts fires the events of many requests from many
// goroutines at once, while the SDK collects, and checks every count
// exactly: the lock-free front list, the map behind it (more keys than the
// front list holds) and the insertion of new keys under concurrency.
func TestConcurrentCounts(t *testing.T) {
	const (
		goroutines = 8
		perG       = 200
		routes     = 24 // more error attribute sets than the front list keeps
	)
	tm := newTelemetry(t, otelerrkit.Config{})
	ctx, span := tm.tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	classes := []string{"read", "write", "search"}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() { // the SDK collecting while the Hook counts
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
				tm.counts(t, otelerrkit.MetricErrors)
			}
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				tm.hook(ctx, event.Event{Kind: event.KindRequest, Method: http.MethodGet})
				tm.hook(ctx, event.Event{Kind: event.KindRateLimit, Class: classes[(g+i)%len(classes)], Outcome: event.OutcomeAllowed})
				tm.hook(ctx, event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet,
					Route: fmt.Sprintf("/r%d/{id}", (g*perG+i)%routes)})
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-collected

	wantErrors := map[string]int64{}
	for i := range goroutines * perG {
		wantErrors[fmt.Sprintf("error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404,http.route=/r%d/{id}", i%routes)]++
	}
	assert.Equal(t, wantErrors, tm.counts(t, otelerrkit.MetricErrors))
	wantDecisions := map[string]int64{}
	for g := range goroutines {
		for i := range perG {
			wantDecisions["errkit.ratelimit.class="+classes[(g+i)%len(classes)]+",errkit.ratelimit.outcome=allowed"]++
		}
	}
	assert.Equal(t, wantDecisions, tm.counts(t, otelerrkit.MetricRateLimitDecisions))
}

// recordOnly is a sampler that records every span without sampling it.
type recordOnly struct{}

func (recordOnly) ShouldSample(sdktrace.SamplingParameters) sdktrace.SamplingResult {
	return sdktrace.SamplingResult{Decision: sdktrace.RecordOnly}
}
func (recordOnly) Description() string { return "recordOnly" }

// TestRecordingSpans checks which spans get the request ID and error.type:
// a sampled span and a recording span that is not sampled (the Hook asks
// the span when its span context is not sampled) get them; a span sampled
// out gets nothing, and nothing breaks without a span.
func TestRecordingSpans(t *testing.T) {
	tests := []struct {
		name    string
		sampler sdktrace.Sampler
		want    bool
	}{
		{name: "sampled", sampler: sdktrace.AlwaysSample(), want: true},
		{name: "recorded, not sampled", sampler: recordOnly{}, want: true},
		{name: "sampled out", sampler: sdktrace.NeverSample(), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t, otelerrkit.Config{})
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tm.spans), sdktrace.WithSampler(tt.sampler))
			t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
			ctx, span := tp.Tracer("test").Start(context.Background(), "op")
			r := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
			id := requestid.FromContext(r.Context())
			tm.hook(r.Context(), event.Event{Kind: event.KindRequest, Method: http.MethodGet})
			tm.hook(r.Context(), event.Event{Kind: event.KindError, Code: apierror.CodeCircuitOpen, Status: 503, Method: http.MethodGet})
			span.End()
			tm.hook(r.Context(), event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet}) // ended: ignored

			sp, ok := tm.spanWith(id)
			require.Equal(t, tt.want, ok, "a span with errkit.request_id %s", id)
			if tt.want {
				assert.Equal(t, string(apierror.CodeCircuitOpen), attr(sp, otelerrkit.ErrorTypeKey))
				assert.Equal(t, string(apierror.CodeCircuitOpen), sp.Status().Description)
			}
			assert.Equal(t, map[string]int64{
				"error.type=CIRCUIT_OPEN,http.request.method=GET,http.response.status_code=503": 1,
				"error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404":    1,
			}, tm.counts(t, otelerrkit.MetricErrors), "counted whatever the span")
		})
	}
	t.Run("no span", func(t *testing.T) {
		tm := newTelemetry(t, otelerrkit.Config{})
		require.False(t, trace.SpanFromContext(context.Background()).IsRecording())
		tm.hook(context.Background(), event.Event{Kind: event.KindRequest, Method: http.MethodGet})
		tm.hook(context.Background(), event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: http.MethodGet})
		assert.Equal(t, map[string]int64{"error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404": 1},
			tm.counts(t, otelerrkit.MetricErrors))
	})
}
