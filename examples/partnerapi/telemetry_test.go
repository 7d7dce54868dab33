package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/killswitch"
)

// sample is one line of Prometheus text: a series and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// promLabel is one label="value" of a series.
var promLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape GETs /metrics without a key and returns its samples and its text.
func scrape(t *testing.T, s *testServer) ([]sample, string) {
	t.Helper()
	resp, err := http.Get(s.URL + metricsPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	var out []sample
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			series, value, ok = line[:i], line[i+1:], true
		}
		require.True(t, ok, "sample line %q", line)
		v, err := strconv.ParseFloat(value, 64)
		require.NoError(t, err, "sample line %q", line)
		smp := sample{name: series, labels: map[string]string{}, value: v}
		if name, labels, found := strings.Cut(series, "{"); found {
			smp.name = name
			for _, m := range promLabel.FindAllStringSubmatch(labels, -1) {
				smp.labels[m[1]] = m[2]
			}
		}
		out = append(out, smp)
	}
	require.NoError(t, sc.Err())
	return out, string(body)
}

// sumBy sums the samples of name by the value of label.
func sumBy(samples []sample, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		if s.name == name {
			out[s.labels[label]] += s.value
		}
	}
	return out
}

// TestMetrics sends a known sequence on a real listener, on every
// framework, scrapes /metrics and checks the counts exactly: 3
// VALIDATION, 2 NOT_FOUND, 1 INTERNAL, 2 RATE_LIMITED and 1 KILL_SWITCH,
// with the limiter's decisions and the kill switch's block.
func TestMetrics(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{Metrics: true, ReadRate: rateOf(0.001, 2)})
		require.NoError(t, s.KillSwitches.On(context.Background(), killswitch.Switch{
			Scope: apierror.ScopeKey, ID: "key_other", Reason: "metrics test", By: "test"}))
		const create = "/v1/projects/prj_demo/content"
		sequence := []struct {
			req    request
			status int
			code   string
		}{
			{request{method: "POST", path: create, key: keyFull, body: `{}`}, 422, "VALIDATION"},
			{request{method: "POST", path: create, key: keyFull, body: `{"hook":42}`}, 422, "VALIDATION"},
			{request{method: "POST", path: create, key: keyFull, body: `{"hook":""}`}, 422, "VALIDATION"},
			{request{method: "GET", path: "/nope"}, 404, "NOT_FOUND"},
			{request{method: "GET", path: "/nope/again"}, 404, "NOT_FOUND"},
			{request{method: "GET", path: "/v1/errors/INTERNAL/example"}, 500, "INTERNAL"},
			{request{method: "GET", path: "/v1/whoami", key: keyReadonly}, 200, ""},
			{request{method: "GET", path: "/v1/whoami", key: keyReadonly}, 200, ""},
			{request{method: "GET", path: "/v1/whoami", key: keyReadonly}, 429, "RATE_LIMITED"},
			{request{method: "GET", path: "/v1/whoami", key: keyReadonly}, 429, "RATE_LIMITED"},
			{request{method: "GET", path: "/v1/whoami", key: keyOther}, 503, "KILL_SWITCH"},
		}
		for _, step := range sequence {
			resp := s.do(t, step.req)
			if step.code == "" {
				require.Equal(t, step.status, resp.status, "%s %s: %s", step.req.method, step.req.path, resp.body)
				continue
			}
			requireError(t, resp, step.status, step.code)
		}

		samples, text := scrape(t, s)
		assert.Equal(t, map[string]float64{"VALIDATION": 3, "NOT_FOUND": 2, "INTERNAL": 1, "RATE_LIMITED": 2, "KILL_SWITCH": 1},
			sumBy(samples, "errkit_errors_total", "error_type"), "errors by code:\n%s", text)
		decisions := map[string]float64{}
		for _, smp := range samples {
			if smp.name == "errkit_ratelimit_decisions_total" {
				decisions[smp.labels["errkit_ratelimit_class"]+"/"+smp.labels["errkit_ratelimit_outcome"]] += smp.value
			}
		}
		assert.Equal(t, map[string]float64{"write/allowed": 3, "read/allowed": 2, "read/denied": 2, "public/allowed": 1}, decisions, "decisions:\n%s", text)
		assert.Equal(t, map[string]float64{"key": 1}, sumBy(samples, "errkit_killswitch_blocks_total", "errkit_killswitch_scope"))

		// The exporter's exact text for one series: OTel's names, with
		// Prometheus's suffix and underscores, and the route template.
		assert.Contains(t, text, "# TYPE errkit_errors_total counter\n")
		assert.Regexp(t, `(?m)^errkit_errors_total\{error_type="INTERNAL",http_request_method="GET",http_response_status_code="500",http_route="/v1/errors/[:{]code\}?/example",otel_scope_name="github.com/layershq/errkit/otelerrkit",otel_scope_schema_url="",otel_scope_version=""\} 1$`, text)

		// Scraping is neither counted nor limited, and needs no key.
		again, _ := scrape(t, s)
		assert.Equal(t, sumBy(samples, "errkit_errors_total", "error_type"), sumBy(again, "errkit_errors_total", "error_type"))
	})
}

// TestMetricsIdempotency counts the idempotency outcomes of a known
// sequence exactly, on every framework: a create stored, its replay, a
// conflicting body under the same key, and a failed request whose key is
// released.
func TestMetricsIdempotency(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{Metrics: true})
		send := func(key, body string) response {
			return s.do(t, request{method: "POST", path: "/v1/projects/prj_demo/content", key: keyFull, body: body,
				header: map[string]string{idempotency.HeaderKey: key}})
		}
		require.Equal(t, 202, send("metrics-1", `{"hook":"first"}`).status)
		replay := send("metrics-1", `{"hook":"first"}`)
		require.Equal(t, 202, replay.status)
		require.Equal(t, "true", replay.header.Get(idempotency.HeaderReplayed))
		requireError(t, send("metrics-1", `{"hook":"second"}`), 409, "IDEMPOTENCY_CONFLICT")
		requireError(t, send("metrics-2", `{"hook":""}`), 422, "VALIDATION")

		samples, text := scrape(t, s)
		assert.Equal(t, map[string]float64{"stored": 1, "replayed": 1, "conflict": 1, "released": 1},
			sumBy(samples, "errkit_idempotency_outcomes_total", "errkit_idempotency_outcome"), "idempotency outcomes:\n%s", text)
	})
}

// TestMetricsOff checks that -metrics=false leaves /metrics to the API,
// which does not serve it.
func TestMetricsOff(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{})
		requireError(t, s.do(t, request{method: "GET", path: metricsPath}), 404, "NOT_FOUND")
	})
}

// traceLines collects what the span exporter prints.
type traceLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *traceLines) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// stdoutSpan is what the test reads of a span stdouttrace printed.
type stdoutSpan struct {
	SpanContext struct {
		TraceID string `json:"TraceID"`
		SpanID  string `json:"SpanID"`
	} `json:"SpanContext"`
	Status struct {
		Code string `json:"Code"`
	} `json:"Status"`
	Attributes []struct {
		Key   string `json:"Key"`
		Value struct {
			Value any `json:"Value"`
		} `json:"Value"`
	} `json:"Attributes"`
}

func (s stdoutSpan) attr(key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Value
		}
	}
	return nil
}

// spans decodes every span printed.
func (b *traceLines) spans(t *testing.T) []stdoutSpan {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []stdoutSpan
	dec := json.NewDecoder(bytes.NewReader(b.buf.Bytes()))
	for dec.More() {
		var sp stdoutSpan
		require.NoError(t, dec.Decode(&sp))
		out = append(out, sp)
	}
	return out
}

// TestTraces checks -trace-stdout on every framework: each request's span
// is printed with its request ID, an error's span with error.type and, for
// a 5xx only, the status Error, and the INTERNAL log line names the trace.
func TestTraces(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		out := &traceLines{}
		s := startServer(t, fw, Config{Traces: out})
		tests := []struct {
			req       request
			errorType any    // nil: none
			status    string // the span's status code
		}{
			{req: request{method: "GET", path: "/healthz"}, status: "Unset"},
			{req: request{method: "GET", path: "/v1/whoami"}, errorType: "UNAUTHENTICATED", status: "Unset"},
			{req: request{method: "GET", path: "/v1/errors/INTERNAL/example"}, errorType: "INTERNAL", status: "Error"},
		}
		ids := map[string]int{}
		for i, tt := range tests {
			ids[s.do(t, tt.req).header.Get("X-Request-Id")] = i
		}
		byID := map[string]stdoutSpan{}
		for _, sp := range out.spans(t) {
			if id, ok := sp.attr("errkit.request_id").(string); ok {
				byID[id] = sp
			}
		}
		var internalTrace string
		for id, i := range ids {
			sp, ok := byID[id]
			require.True(t, ok, "a span with errkit.request_id %s (%s)", id, tests[i].req.path)
			assert.Equal(t, tests[i].errorType, sp.attr("error.type"), tests[i].req.path)
			assert.Equal(t, tests[i].status, sp.Status.Code, tests[i].req.path)
			if tests[i].errorType == "INTERNAL" {
				internalTrace = sp.SpanContext.TraceID
				var logged bool
				for _, line := range s.logs.lines(t) {
					if line["requestId"] == id && line["code"] == "INTERNAL" {
						logged = true
						assert.Equal(t, sp.SpanContext.TraceID, line["trace_id"])
						assert.Equal(t, sp.SpanContext.SpanID, line["span_id"])
					}
				}
				assert.True(t, logged, "the INTERNAL line of %s", id)
			}
		}
		assert.NotEmpty(t, internalTrace)
	})
}
