package retry

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy Policy
		k      int
		want   time.Duration
	}{
		{"full jitter, step 0, r=0.5", Policy{Rand: half}, 0, 250 * ms},
		{"full jitter, step 1, r=0.5", Policy{Rand: half}, 1, 500 * ms},
		{"full jitter, step 4, r=0.5", Policy{Rand: half}, 4, 4 * time.Second},
		{"full jitter, capped at MaxDelay", Policy{Rand: half}, 10, 5 * time.Second},
		{"full jitter, r=0 waits nothing", Policy{Rand: func() float64 { return 0 }}, 3, 0},
		{"equal jitter, r=0 waits half the step", Policy{Rand: func() float64 { return 0 }, Jitter: EqualJitter}, 1, 500 * ms},
		{"equal jitter, r=0.5", Policy{Rand: half, Jitter: EqualJitter}, 1, 750 * ms},
		{"huge step index does not overflow", Policy{Rand: half}, 1000, 5 * time.Second},
		{"shift overflow does not go negative", Policy{Rand: half, BaseDelay: time.Duration(math.MaxInt64 / 2), MaxDelay: time.Duration(math.MaxInt64)}, 3, DefaultMaxWait},
		{"clamped to MaxWait", Policy{Rand: func() float64 { return 0.99 }, MaxDelay: time.Hour, MaxWait: 2 * time.Second}, 20, 2 * time.Second},
		{"NaN from Rand is 0", Policy{Rand: func() float64 { return math.NaN() }}, 2, 0},
		{"Rand >= 1 stays below the step", Policy{Rand: func() float64 { return 7 }, BaseDelay: time.Second}, 0, time.Second - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.policy.withDefaults().backoff(tt.k))
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{" 30 ", 30 * time.Second, true},
		{"259200", 72 * time.Hour, true},
		{"99999999999999999999999", maxWire, true},
		{"9223372036", maxWire, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"2s", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sat, 18 Apr 2026 14:22:15 GMT", 5 * time.Second, true},
		{"Saturday, 18-Apr-26 14:22:15 GMT", 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok := apierror.ParseRetryAfter(tt.in, now)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func TestRetryAfterMs(t *testing.T) {
	tests := []struct {
		name   string
		e      *apierror.Error
		want   time.Duration
		wantOK bool
	}{
		{"RATE_LIMITED", apierror.RateLimited(1500 * time.Millisecond), 1500 * time.Millisecond, true},
		{"PLATFORM_ERROR null", apierror.PlatformError("meta", "x", "y", 0), 0, false},
		{"PLATFORM_ERROR set", apierror.PlatformError("meta", "x", "y", 2*time.Second), 2 * time.Second, true},
		{"no details", apierror.New(apierror.CodeRateLimited), 0, false},
		{"negative", decoded(429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":-5}}}`), 0, false},
		{"fraction", decoded(429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":1.5}}}`), 0, false},
		{"string", decoded(429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":"100"}}}`), 0, false},
		{"huge saturates", decoded(429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":123456789012345678901234567890}}}`), maxWire, true},
		{"above int64 ms of Duration saturates", decoded(429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":9223372036854775}}}`), maxWire, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := retryAfterMs(tt.e)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func decoded(status int, body string) *apierror.Error {
	e, _ := apierror.Decode(status, []byte(body)).(*apierror.Error)
	return e
}

func TestDecisionString(t *testing.T) {
	assert.Equal(t, "done", Done.String())
	assert.Equal(t, "retry", Retry.String())
	assert.Equal(t, "stop", Stop.String())
	assert.Equal(t, "give-up", GiveUp.String())
	assert.Equal(t, "Decision(9)", Decision(9).String())
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Attempts: 3, Err: apierror.Internal(nil)}
	assert.Equal(t, "retry: after 3 attempts: INTERNAL: "+apierror.InternalMessage, e.Error())
	assert.Equal(t, 0, AttemptsOf(apierror.Internal(nil)))
	assert.Equal(t, 0, AttemptsOf(nil))
}

func TestNewIdempotencyKey(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k := NewIdempotencyKey()
		assert.Regexp(t, `^[0-9a-f]{32}$`, k)
		assert.False(t, seen[k], "duplicate key %s", k)
		seen[k] = true
	}
}
