package retry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGuidance scripts one server per bullet of the contract's retry
// guidance and checks the attempts, the exact waits and the final outcome.
func TestGuidance(t *testing.T) {
	ms := time.Millisecond
	platform := func(retryAfter time.Duration) *apierror.Error {
		return apierror.PlatformError(apierror.Platform("tiktok"), "rate_limit", "slow down", retryAfter)
	}
	internal := apierror.Internal(errors.New("db down"))
	clockNow := newFakeClock().Now()

	tests := []struct {
		name      string
		method    string
		policy    Policy
		steps     []http.HandlerFunc
		wantWaits []time.Duration
		wantDecs  []Decision
		wantCode  apierror.Code // "" means success
		wantBody  string
	}{
		{
			name:      "RATE_LIMITED: retryAfterMs agrees with Retry-After, the milliseconds are waited",
			steps:     []http.HandlerFunc{fail(apierror.RateLimited(1500*ms), "Retry-After", "2"), ok("admitted")},
			wantWaits: []time.Duration{1500 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "RATE_LIMITED: Retry-After only, waited exactly, no jitter",
			steps:     []http.HandlerFunc{fail(apierror.New(apierror.CodeRateLimited), "Retry-After", "3"), ok("admitted")},
			wantWaits: []time.Duration{3 * time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "RATE_LIMITED: retryAfterMs only",
			steps:     []http.HandlerFunc{fail(apierror.RateLimited(250 * ms)), ok("admitted")},
			wantWaits: []time.Duration{250 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "RATE_LIMITED: Retry-After and retryAfterMs disagree, the longer is waited",
			steps:     []http.HandlerFunc{fail(apierror.RateLimited(1500*ms), "Retry-After", "10"), ok("admitted")},
			wantWaits: []time.Duration{10 * time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "RATE_LIMITED: Retry-After as an HTTP-date",
			steps:     []http.HandlerFunc{fail(apierror.New(apierror.CodeRateLimited), "Retry-After", clockNow.Add(5*time.Second).Format(http.TimeFormat)), ok("admitted")},
			wantWaits: []time.Duration{5 * time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "RATE_LIMITED every time: attempt cap",
			steps:     []http.HandlerFunc{fail(apierror.RateLimited(time.Second), "Retry-After", "1")},
			wantWaits: []time.Duration{time.Second, time.Second},
			wantDecs:  []Decision{Retry, Retry, GiveUp},
			wantCode:  apierror.CodeRateLimited,
		},
		{
			name:      "RATE_LIMITED: 3 days is longer than MaxWait, no wait, immediate error",
			steps:     []http.HandlerFunc{fail(apierror.RateLimited(259200*time.Second), "Retry-After", "259200"), ok("never")},
			wantWaits: nil,
			wantDecs:  []Decision{GiveUp},
			wantCode:  apierror.CodeRateLimited,
		},
		{
			name:      "RATE_LIMITED without any wait falls back to backoff",
			policy:    Policy{Rand: half},
			steps:     []http.HandlerFunc{fail(apierror.New(apierror.CodeRateLimited)), ok("admitted")},
			wantWaits: []time.Duration{250 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "admitted",
		},
		{
			name:      "INTERNAL: exponential backoff with full jitter, 3 attempts in all",
			policy:    Policy{Rand: half},
			steps:     []http.HandlerFunc{fail(internal)},
			wantWaits: []time.Duration{250 * ms, 500 * ms},
			wantDecs:  []Decision{Retry, Retry, GiveUp},
			wantCode:  apierror.CodeInternal,
		},
		{
			name:      "INTERNAL then success",
			policy:    Policy{Rand: half},
			steps:     []http.HandlerFunc{fail(internal), ok("fine")},
			wantWaits: []time.Duration{250 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "fine",
		},
		{
			name:      "WORKFLOW_START_FAILED: backoff with equal jitter",
			method:    http.MethodPost,
			policy:    Policy{Rand: half, Jitter: EqualJitter, BaseDelay: 100 * ms},
			steps:     []http.HandlerFunc{fail(apierror.WorkflowStartFailed(nil)), fail(apierror.WorkflowStartFailed(nil)), ok("started")},
			wantWaits: []time.Duration{75 * ms, 150 * ms},
			wantDecs:  []Decision{Retry, Retry, Done},
			wantBody:  "started",
		},
		{
			name:      "PLATFORM_ERROR with retryAfterMs: waited exactly, retried once",
			steps:     []http.HandlerFunc{fail(platform(1200*ms), "Retry-After", "2")},
			wantWaits: []time.Duration{1200 * ms},
			wantDecs:  []Decision{Retry, GiveUp},
			wantCode:  apierror.CodePlatformError,
		},
		{
			name:      "CONFLICT idempotency_key_in_use: Retry-After waited, retried once, replayed",
			method:    http.MethodPost,
			steps:     []http.HandlerFunc{fail(apierror.Conflict(ReasonKeyInUse), "Retry-After", "1"), ok("replayed")},
			wantWaits: []time.Duration{time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "replayed",
		},
		{
			name:      "CONFLICT idempotency_key_in_use twice: one retry only",
			method:    http.MethodPost,
			steps:     []http.HandlerFunc{fail(apierror.Conflict(ReasonKeyInUse), "Retry-After", "2")},
			wantWaits: []time.Duration{2 * time.Second},
			wantDecs:  []Decision{Retry, GiveUp},
			wantCode:  apierror.CodeConflict,
		},
		{
			name:      "CONFLICT idempotency_key_in_use without Retry-After: one second",
			method:    http.MethodPost,
			steps:     []http.HandlerFunc{fail(apierror.Conflict(ReasonKeyInUse)), ok("ran")},
			wantWaits: []time.Duration{DefaultInUseWait},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "ran",
		},
		{
			name:     "CONFLICT with another reason: not retried",
			method:   http.MethodPost,
			steps:    []http.HandlerFunc{fail(apierror.Conflict("already_approved")), ok("never")},
			wantDecs: []Decision{Stop},
			wantCode: apierror.CodeConflict,
		},
		{
			name:      "PLATFORM_ERROR with retryAfterMs then success",
			steps:     []http.HandlerFunc{fail(platform(1200 * ms)), ok("published")},
			wantWaits: []time.Duration{1200 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "published",
		},
		{
			name:     "PLATFORM_ERROR with null retryAfterMs: not retried, whatever headers say",
			steps:    []http.HandlerFunc{fail(platform(0), "Retry-After", "1"), ok("never")},
			wantDecs: []Decision{Stop},
			wantCode: apierror.CodePlatformError,
		},
		{
			name:      "CIRCUIT_OPEN: wait retryAfterSeconds, probe, wait again, closed",
			policy:    Policy{MaxAttempts: 4},
			steps:     []http.HandlerFunc{fail(apierror.CircuitOpen("appstore", 30*time.Second)), fail(apierror.CircuitOpen("appstore", 20*time.Second)), ok("scraped")},
			wantWaits: []time.Duration{30 * time.Second, 20 * time.Second},
			wantDecs:  []Decision{Retry, Retry, Done},
			wantBody:  "scraped",
		},
		{
			name:      "CIRCUIT_OPEN stays open: bounded by the attempt cap",
			steps:     []http.HandlerFunc{fail(apierror.CircuitOpen("appstore", 30*time.Second), "Retry-After", "30")},
			wantWaits: []time.Duration{30 * time.Second, 30 * time.Second},
			wantDecs:  []Decision{Retry, Retry, GiveUp},
			wantCode:  apierror.CodeCircuitOpen,
		},
		{
			name:     "CIRCUIT_OPEN longer than MaxWait: immediate error",
			policy:   Policy{MaxWait: time.Minute},
			steps:    []http.HandlerFunc{fail(apierror.CircuitOpen("appstore", 2*time.Minute)), ok("never")},
			wantDecs: []Decision{GiveUp},
			wantCode: apierror.CodeCircuitOpen,
		},
		{
			name:     "KILL_SWITCH global: not retried automatically",
			steps:    []http.HandlerFunc{fail(apierror.KillSwitch(apierror.KillSwitchScope("global")), "Retry-After", "1"), ok("never")},
			wantDecs: []Decision{Stop},
			wantCode: apierror.CodeKillSwitch,
		},
		{
			name:     "MaxAttempts 1 disables retries",
			policy:   Policy{MaxAttempts: 1},
			steps:    []http.HandlerFunc{fail(apierror.RateLimited(time.Second), "Retry-After", "1"), ok("never")},
			wantDecs: []Decision{GiveUp},
			wantCode: apierror.CodeRateLimited,
		},
		{
			name:      "unknown 5xx code: backoff (catalogue fallback)",
			policy:    Policy{Rand: half},
			steps:     []http.HandlerFunc{raw(503, `{"error":{"code":"BRAND_NEW_OUTAGE","message":"m","requestId":"req_x"}}`), ok("fine")},
			wantWaits: []time.Duration{250 * ms},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "fine",
		},
		{
			name:     "unknown 4xx code: not retried",
			steps:    []http.HandlerFunc{raw(418, `{"error":{"code":"BRAND_NEW_RULE","message":"m"}}`), ok("never")},
			wantDecs: []Decision{Stop},
			wantCode: apierror.Code("BRAND_NEW_RULE"),
		},
		{
			name:      "unknown 429 code: Retry-After honoured (catalogue fallback)",
			steps:     []http.HandlerFunc{raw(429, `{"error":{"code":"SLOW_DOWN","message":"m"}}`, "Retry-After", "4"), ok("fine")},
			wantWaits: []time.Duration{4 * time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "fine",
		},
		{
			name:      "proxy HTML 502: transient, backoff",
			policy:    Policy{Rand: half},
			steps:     []http.HandlerFunc{raw(502, "<html>Bad Gateway</html>"), raw(504, "<html>Gateway Timeout</html>"), ok("fine")},
			wantWaits: []time.Duration{250 * ms, 500 * ms},
			wantDecs:  []Decision{Retry, Retry, Done},
			wantBody:  "fine",
		},
		{
			name:      "proxy HTML 503 with Retry-After: honoured",
			steps:     []http.HandlerFunc{raw(503, "<html>Service Unavailable</html>", "Retry-After", "7"), ok("fine")},
			wantWaits: []time.Duration{7 * time.Second},
			wantDecs:  []Decision{Retry, Done},
			wantBody:  "fine",
		},
		{
			name:     "proxy HTML 500: not retried",
			steps:    []http.HandlerFunc{raw(500, "<html>oops</html>"), ok("never")},
			wantDecs: []Decision{Stop},
		},
		{
			name:     "POST without Idempotency-Key generation, INTERNAL: not retried",
			method:   http.MethodPost,
			steps:    []http.HandlerFunc{fail(internal), ok("never")},
			wantDecs: []Decision{Stop},
			wantCode: apierror.CodeInternal,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := newScript(t, tt.steps...)
			clk := newFakeClock()
			rec := &recorder{}
			tr := &Transport{Base: srv.Client().Transport, Policy: tt.policy, Clock: clk, OnAttempt: rec.On}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			if strings.HasPrefix(tt.name, "POST without") {
				tr.NewIdempotencyKey = func() string { return "" }
			}
			req, err := http.NewRequest(method, srv.URL+"/v1/thing", nil)
			require.NoError(t, err)

			resp, err := (&Client{Transport: tr}).Do(context.Background(), req)

			assert.Equal(t, tt.wantWaits, clk.Waits(), "waits")
			assert.Equal(t, tt.wantDecs, rec.Decisions(), "decisions")
			hits := s.Hits()
			require.Len(t, hits, len(tt.wantDecs), "requests received")
			if method == http.MethodPost && !strings.HasPrefix(tt.name, "POST without") {
				for _, h := range hits {
					assert.NotEmpty(t, h.Key)
					assert.Equal(t, hits[0].Key, h.Key, "every attempt carries the same Idempotency-Key")
				}
			}
			for i, a := range rec.attempts {
				assert.Equal(t, i+1, a.N)
				assert.NotEmpty(t, a.Reason)
				if a.Decision == Retry {
					assert.Equal(t, tt.wantWaits[i], a.Wait)
				} else {
					assert.Zero(t, a.Wait)
				}
			}
			if tt.wantBody != "" {
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, tt.wantBody, readBody(t, resp))
				return
			}
			require.Error(t, err)
			assert.Nil(t, resp)
			var re *Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, len(hits), re.Attempts)
			assert.Equal(t, len(hits), AttemptsOf(err))
			if tt.wantCode == "" {
				var rerr *apierror.ResponseError
				require.ErrorAs(t, err, &rerr)
				assert.Equal(t, "req_"+itoa(len(hits)), rerr.RequestID)
				return
			}
			assert.Equal(t, tt.wantCode, apierror.CodeOf(err))
			assert.True(t, apierror.HasCode(err, tt.wantCode))
			e, ok := apierror.As(err)
			require.True(t, ok)
			assert.Equal(t, "req_"+itoa(len(hits)), e.RequestID(), "the requestId of the last attempt")
		})
	}
}

// TestNeverRetriedCodes checks every code whose catalogue advice is not an
// automatic retry: one request, the decoded error returned as is.
func TestNeverRetriedCodes(t *testing.T) {
	for _, spec := range apierror.Catalogue() {
		switch spec.Retry.Kind {
		case apierror.RetryBackoff, apierror.RetryHonorRetryAfter, apierror.RetryHonorRetryAfterMsOnce, apierror.RetryWaitAndProbe:
			continue
		}
		t.Run(string(spec.Code), func(t *testing.T) {
			srv, s := newScript(t, fail(apierror.New(spec.Code), "Retry-After", "1"), ok("never"))
			clk := newFakeClock()
			rec := &recorder{}
			c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, OnAttempt: rec.On}}
			req, err := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader(`{"a":1}`))
			require.NoError(t, err)
			resp, err := c.Do(context.Background(), req)
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.Len(t, s.Hits(), 1)
			assert.Empty(t, clk.Waits())
			assert.Equal(t, []Decision{Stop}, rec.Decisions())
			e, ok := apierror.As(err)
			require.True(t, ok)
			assert.Equal(t, spec.Code, e.Code())
			assert.Equal(t, spec.Status, e.Status())
			assert.Equal(t, spec.Message, e.Message())
			assert.Equal(t, "req_1", e.RequestID())
			assert.Equal(t, 1, AttemptsOf(err))
			assert.Equal(t, "retry: after 1 attempt: "+e.Error(), err.Error())
		})
	}
}

// TestInUseReasonMatchesServer: the client's reason is the one the
// idempotency guard answers.
func TestInUseReasonMatchesServer(t *testing.T) {
	assert.Equal(t, idempotency.ReasonKeyInUse, ReasonKeyInUse)
	assert.Equal(t, idempotency.InUseRetryAfter, DefaultInUseWait)
}
