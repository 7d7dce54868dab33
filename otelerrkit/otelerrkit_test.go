package otelerrkit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/nethttp"
	"github.com/layershq/errkit/otelerrkit"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// secret is in the cause of /internal: never in a span unless asked for.
const secret = "sk_live_otel_53cr3t"

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// reset drops what was written.
func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// lines decodes every JSON log line.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		out = append(out, m)
	}
	return out
}

// server is a net/http service wired as the package documentation says:
// otelhttp outside nethttp.Install, the Hook in Install and in the
// limiter's and the kill switch's Config, the logger through LogHandler.
type server struct {
	url      string
	tm       *telemetry
	logs     *syncBuffer
	switches *killswitch.MemoryStore
}

func startServer(t *testing.T, cfg otelerrkit.Config) *server {
	t.Helper()
	tm := newTelemetry(t, cfg)
	logs := &syncBuffer{}
	logger := slog.New(otelerrkit.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{SweepInterval: -1, Clock: func() time.Duration { return time.Hour }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	lim, err := ratelimit.New(ratelimit.Config{Store: store, Events: tm.hook,
		Classes: map[string]ratelimit.Rate{"read": {PerSecond: 0.001, Burst: 1}}, ClassFunc: func(*http.Request) string { return "read" }})
	require.NoError(t, err)
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	require.NoError(t, err)
	guard, err := killswitch.New(killswitch.Config{Checker: switches, Events: tm.hook})
	require.NoError(t, err)

	ok := func(w http.ResponseWriter, _ *http.Request) error {
		_, err := io.WriteString(w, "ok")
		return err
	}
	authed := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, principal.Set(r, principal.Principal{KeyID: "key_" + r.URL.Query().Get("key"), OrganizationID: "org_1"}))
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ok", nethttp.Handler(ok))
	mux.Handle("GET /things/{id}", nethttp.Handler(func(http.ResponseWriter, *http.Request) error { return apierror.NotFound() }))
	mux.Handle("GET /internal", nethttp.Handler(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("charge: dial postgres://billing:%s@db: refused", secret)
	}))
	mux.Handle("GET /upstream", nethttp.Handler(func(http.ResponseWriter, *http.Request) error {
		return apierror.CircuitOpen("appstore", 30*time.Second)
	}))
	mux.Handle("GET /limited", authed(nethttp.KillSwitch(guard)(nethttp.RateLimit(lim)(nethttp.Handler(ok)))))
	h, err := nethttp.Install(mux, nethttp.Config{Logger: logger, Events: tm.hook})
	require.NoError(t, err)
	ts := httptest.NewServer(otelhttp.NewHandler(h, "errkit-test",
		otelhttp.WithTracerProvider(tm.tp), otelhttp.WithMeterProvider(metricnoop.NewMeterProvider())))
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, tm: tm, logs: logs, switches: switches}
}

// get sends GET path and returns the status and the request ID.
func (s *server) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.url + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NotContains(t, string(body), secret)
	id := resp.Header.Get(requestid.Header)
	require.True(t, requestid.Valid(id), "X-Request-Id %q", id)
	return resp.StatusCode, id
}

// TestSpans checks each response's server span: the request ID always,
// error.type the code on errors, status Error for 5xx only, and no cause
// unless RecordInternalCause.
func TestSpans(t *testing.T) {
	tests := []struct {
		name       string
		cfg        otelerrkit.Config
		path       string
		status     int
		errorType  string // "" for none
		spanStatus codes.Code
		cause      bool // an exception event with the cause
	}{
		{name: "success", path: "/ok", status: 200, spanStatus: codes.Unset},
		{name: "4xx leaves the status unset", path: "/things/1", status: 404, errorType: "NOT_FOUND", spanStatus: codes.Unset},
		{name: "router 404", path: "/nowhere", status: 404, errorType: "NOT_FOUND", spanStatus: codes.Unset},
		{name: "INTERNAL", path: "/internal", status: 500, errorType: "INTERNAL", spanStatus: codes.Error},
		{name: "INTERNAL with its cause", cfg: otelerrkit.Config{RecordInternalCause: true}, path: "/internal", status: 500,
			errorType: "INTERNAL", spanStatus: codes.Error, cause: true},
		{name: "other 5xx", path: "/upstream", status: 503, errorType: "CIRCUIT_OPEN", spanStatus: codes.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, tt.cfg)
			status, id := s.get(t, tt.path)
			require.Equal(t, tt.status, status)
			require.Eventually(t, func() bool { _, ok := s.tm.spanWith(id); return ok }, 5*time.Second, time.Millisecond,
				"a span with errkit.request_id %s", id)
			sp, _ := s.tm.spanWith(id)
			assert.Equal(t, tt.errorType, attr(sp, otelerrkit.ErrorTypeKey))
			assert.Equal(t, tt.spanStatus, sp.Status().Code)
			var exceptions []string
			for _, ev := range sp.Events() {
				if ev.Name == "exception" {
					for _, kv := range ev.Attributes {
						exceptions = append(exceptions, kv.Value.Emit())
					}
				}
			}
			if tt.cause {
				assert.Contains(t, strings.Join(exceptions, " "), secret, "the cause, as asked")
			} else {
				assert.Empty(t, exceptions, "no cause on the span by default")
			}
			for _, kv := range sp.Attributes() {
				assert.NotContains(t, kv.Value.Emit(), secret, "attribute %s", kv.Key)
			}
		})
	}
}

// TestLogs checks that errkit's INTERNAL log line carries the span's
// trace_id and span_id.
func TestLogs(t *testing.T) {
	s := startServer(t, otelerrkit.Config{})
	_, id := s.get(t, "/internal")
	require.Eventually(t, func() bool { _, ok := s.tm.spanWith(id); return ok }, 5*time.Second, time.Millisecond)
	sp, _ := s.tm.spanWith(id)
	var found bool
	for _, line := range s.logs.lines(t) {
		if line["requestId"] != id || line["code"] != "INTERNAL" {
			continue
		}
		found = true
		assert.Equal(t, sp.SpanContext().TraceID().String(), line[otelerrkit.LogTraceID])
		assert.Equal(t, sp.SpanContext().SpanID().String(), line[otelerrkit.LogSpanID])
		assert.Contains(t, line["error"], secret, "the cause is logged")
	}
	require.True(t, found, "the INTERNAL line of %s", id)
}

// TestLogHandler checks the handler alone: ids only with a span, With and
// WithGroup keep them, the record of the caller is not changed.
func TestLogHandler(t *testing.T) {
	tm := newTelemetry(t, otelerrkit.Config{})
	ctx, span := tm.tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
	tests := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any // the keys that matter
		none bool           // no trace_id at all
	}{
		{name: "with a span", ctx: ctx, log: func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			want: map[string]any{"trace_id": traceID, "span_id": spanID}},
		{name: "without a span", ctx: context.Background(), log: func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") }, none: true},
		{name: "no context", log: func(l *slog.Logger, _ context.Context) { l.Info("m") }, none: true},
		{name: "With", ctx: ctx, log: func(l *slog.Logger, ctx context.Context) { l.With("a", 1).InfoContext(ctx, "m") },
			want: map[string]any{"trace_id": traceID, "a": float64(1)}},
		{name: "WithGroup", ctx: ctx, log: func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m") },
			want: map[string]any{"g": map[string]any{"trace_id": traceID, "span_id": spanID}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := otelerrkit.LogHandler(slog.NewJSONHandler(&buf, nil))
			assert.Same(t, h, otelerrkit.LogHandler(h), "wrapping twice adds them once")
			tt.log(slog.New(h), tt.ctx)
			var line map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
			if tt.none {
				assert.NotContains(t, line, "trace_id")
				assert.NotContains(t, line, "span_id")
				return
			}
			for k, v := range tt.want {
				assert.Equal(t, v, line[k], k)
			}
		})
	}
}

// TestMetrics sends a known sequence through the server and checks every
// counter exactly.
func TestMetrics(t *testing.T) {
	s := startServer(t, otelerrkit.Config{})
	for _, p := range []string{"/ok", "/things/1", "/things/2", "/nowhere", "/internal", "/upstream",
		"/limited?key=a", "/limited?key=a", "/limited?key=a"} {
		s.get(t, p)
	}
	require.NoError(t, s.switches.On(context.Background(), killswitch.Switch{Scope: apierror.ScopeKey, ID: "key_b", Reason: "abuse", By: "test"}))
	status, _ := s.get(t, "/limited?key=b")
	require.Equal(t, http.StatusServiceUnavailable, status)
	req, err := http.NewRequest("PURGE", s.url+"/things/3", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	assert.Equal(t, map[string]int64{
		"error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404,http.route=/things/{id}": 2,
		"error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404":                         1,
		"error.type=NOT_FOUND,http.request.method=_OTHER,http.response.status_code=404":                      1,
		"error.type=INTERNAL,http.request.method=GET,http.response.status_code=500,http.route=/internal":     1,
		"error.type=CIRCUIT_OPEN,http.request.method=GET,http.response.status_code=503,http.route=/upstream": 1,
		"error.type=RATE_LIMITED,http.request.method=GET,http.response.status_code=429,http.route=/limited":  2,
		"error.type=KILL_SWITCH,http.request.method=GET,http.response.status_code=503,http.route=/limited":   1,
	}, s.tm.counts(t, otelerrkit.MetricErrors))
	assert.Equal(t, map[string]int64{
		"errkit.ratelimit.class=read,errkit.ratelimit.outcome=allowed": 1,
		"errkit.ratelimit.class=read,errkit.ratelimit.outcome=denied":  2,
	}, s.tm.counts(t, otelerrkit.MetricRateLimitDecisions))
	assert.Equal(t, map[string]int64{"errkit.killswitch.scope=key": 1}, s.tm.counts(t, otelerrkit.MetricKillSwitchBlocks))
}

// TestEvents fires each kind of event at the Hook and checks the counter
// it lands in.
func TestEvents(t *testing.T) {
	boom := errors.New("store down")
	tests := []struct {
		name   string
		e      event.Event
		metric string
		want   string
	}{
		{name: "rate limit store failure, decision", e: event.Event{Kind: event.KindRateLimit, Class: "write", Outcome: event.OutcomeFailed,
			Component: event.ComponentRateLimit, Policy: event.PolicyFailOpen, Err: boom},
			metric: otelerrkit.MetricRateLimitDecisions, want: "errkit.ratelimit.class=write,errkit.ratelimit.outcome=failed"},
		{name: "rate limit store failure, store", e: event.Event{Kind: event.KindRateLimit, Class: "write", Outcome: event.OutcomeFailed,
			Component: event.ComponentRateLimit, Policy: event.PolicyFailClosed, Err: boom},
			metric: otelerrkit.MetricStoreFailures, want: "errkit.store.component=ratelimit,errkit.store.policy=fail_closed"},
		{name: "kill switch", e: event.Event{Kind: event.KindKillSwitch, Scope: apierror.ScopeGlobal},
			metric: otelerrkit.MetricKillSwitchBlocks, want: "errkit.killswitch.scope=global"},
		{name: "idempotency replay", e: event.Event{Kind: event.KindIdempotency, Outcome: event.OutcomeReplayed},
			metric: otelerrkit.MetricIdempotencyOutcomes, want: "errkit.idempotency.outcome=replayed"},
		{name: "idempotency store failure", e: event.Event{Kind: event.KindIdempotency, Outcome: event.OutcomeFailed, Err: boom},
			metric: otelerrkit.MetricStoreFailures, want: "errkit.store.component=idempotency"},
		{name: "store failure", e: event.Event{Kind: event.KindStore, Outcome: event.OutcomeFailed, Component: event.ComponentKillSwitch, Err: boom},
			metric: otelerrkit.MetricStoreFailures, want: "errkit.store.component=killswitch"},
		{name: "store warning", e: event.Event{Kind: event.KindStore, Outcome: event.OutcomeUnsafe, Component: event.ComponentIdempotency, Err: boom},
			metric: otelerrkit.MetricStoreWarnings, want: "errkit.store.component=idempotency,errkit.store.outcome=unsafe"},
		{name: "ServeMux pattern", e: event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Method: "GET", Route: "GET example.com/v1/x/{id}"},
			metric: otelerrkit.MetricErrors, want: "error.type=NOT_FOUND,http.request.method=GET,http.response.status_code=404,http.route=/v1/x/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t, otelerrkit.Config{})
			tm.hook(context.Background(), tt.e)
			tm.hook(context.Background(), tt.e)
			assert.Equal(t, map[string]int64{tt.want: 2}, tm.counts(t, tt.metric))
		})
	}
}

// TestStoreFailureCountedOnce: a failed store call during a request is
// reported twice, by the store (KindStore) and by the component that
// applied its policy (KindRateLimit, KindIdempotency); it is one failure.
// Outside a request, or for a store no component reports again (kill
// switch, breaker), the store's own event is the count.
func TestStoreFailureCountedOnce(t *testing.T) {
	boom := errors.New("store down")
	inRequest := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest("GET", "/", nil)).Context()
	tests := []struct {
		name   string
		ctx    context.Context
		events []event.Event
		want   map[string]int64
	}{
		{"rate limit, in a request", inRequest, []event.Event{
			{Kind: event.KindStore, Outcome: event.OutcomeFailed, Component: event.ComponentRateLimit, Err: boom},
			{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeFailed, Component: event.ComponentRateLimit, Policy: event.PolicyFailOpen, Err: boom},
		}, map[string]int64{"errkit.store.component=ratelimit,errkit.store.policy=fail_open": 1}},
		{"idempotency, in a request", inRequest, []event.Event{
			{Kind: event.KindStore, Outcome: event.OutcomeFailed, Component: event.ComponentIdempotency, Policy: event.PolicyFailClosed, Err: boom},
			{Kind: event.KindIdempotency, Outcome: event.OutcomeFailed, Component: event.ComponentIdempotency, Policy: event.PolicyFailClosed, Err: boom},
		}, map[string]int64{"errkit.store.component=idempotency,errkit.store.policy=fail_closed": 1}},
		{"idempotency, in the background", context.Background(), []event.Event{
			{Kind: event.KindStore, Outcome: event.OutcomeFailed, Component: event.ComponentIdempotency, Err: boom},
		}, map[string]int64{"errkit.store.component=idempotency": 1}},
		{"breaker, in a request", inRequest, []event.Event{
			{Kind: event.KindStore, Outcome: event.OutcomeFailed, Component: event.ComponentBreaker, Err: boom},
		}, map[string]int64{"errkit.store.component=breaker": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t, otelerrkit.Config{})
			for _, e := range tt.events {
				tm.hook(tt.ctx, e)
			}
			assert.Equal(t, tt.want, tm.counts(t, otelerrkit.MetricStoreFailures))
		})
	}
}

// TestSuccessAllocatesNothing checks the Hook's work on a request that
// succeeds (its request ID on a recording span, an allowed rate-limit
// decision) with the SDK on both.
func TestSuccessAllocatesNothing(t *testing.T) {
	tm := newTelemetry(t, otelerrkit.Config{})
	ctx, span := tm.tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	// A request ID in the context, as Install stamps it.
	r := requestid.NewStamper(requestid.Config{}).Stamp(http.Header{}, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	rctx := r.Context()
	allowed := event.Event{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeAllowed, Method: "GET", Route: "/x"}
	tm.hook(rctx, allowed) // builds the attribute set once
	allocs := testing.AllocsPerRun(200, func() {
		tm.hook(rctx, event.Event{Kind: event.KindRequest, Method: "GET"})
		tm.hook(rctx, allowed)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, map[string]int64{"errkit.ratelimit.class=read,errkit.ratelimit.outcome=allowed": 202},
		tm.counts(t, otelerrkit.MetricRateLimitDecisions))
}

// TestErrorTypeConvention checks that the error.type OpenTelemetry's own
// helper derives from an errkit error is its contract code, through
// wrapping too: what echo-otel and otelhttp's transport record.
func TestErrorTypeConvention(t *testing.T) {
	var nilErr *apierror.Error
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"error", apierror.NotFound(), "NOT_FOUND"},
		{"with a cause", apierror.Internal(errors.New("dial tcp: secret")), "INTERNAL"},
		{"wrapped", fmt.Errorf("fetch: %w", apierror.RateLimited(time.Second)), "RATE_LIMITED"},
		{"joined", errors.Join(errors.New("other"), apierror.CircuitOpen("tiktok", time.Second)), "CIRCUIT_OPEN"},
		{"nil *Error", nilErr, "INTERNAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, semconv.ErrorTypeKey.String(tt.want), semconv.ErrorType(tt.err))
		})
	}
}
