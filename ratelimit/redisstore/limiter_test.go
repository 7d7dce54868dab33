package redisstore

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// outcome is what a test checks of one limited request.
type outcome struct {
	status int
	policy string
	state  string
	body   string
}

// limitOnce runs one authenticated GET through l as an adapter does (a
// stamped request ID, Limit, the error writer for an error) and returns
// what the client would see.
func limitOnce(t *testing.T, l *ratelimit.Limiter, stamper *requestid.Stamper, w *httperror.Writer) (outcome, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r := stamper.Stamp(rec.Header(), httptest.NewRequest(http.MethodGet, "/v1/things/1", nil))
	r = principal.Set(r, principal.Principal{KeyID: "key_a"})
	if err := l.Limit(rec.Header(), r, "/v1/things/:id"); err != nil {
		w.Write(rec, r, err)
	} else {
		rec.WriteHeader(http.StatusOK)
	}
	return outcome{
		status: rec.Code,
		policy: rec.Header().Get(ratelimit.HeaderRateLimitPolicy),
		state:  rec.Header().Get(ratelimit.HeaderRateLimit),
		body:   rec.Body.String(),
	}, rec.Header().Get(requestid.Header)
}

// TestLimiterRedisOutage stops a real Redis under running limiters:
// fail-open lets requests through, fail-closed answers INTERNAL, and both
// recover when Redis is back, without restarting anything.
func TestLimiterRedisOutage(t *testing.T) {
	inst := redistest.Private(t)
	client := redisClient(t, inst)
	store, err := New(client, Config{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stamper := requestid.NewStamper(requestid.Config{Logger: logger})
	w, err := httperror.New(httperror.Config{Logger: logger})
	require.NoError(t, err)
	classes := map[string]ratelimit.Rate{ratelimit.ClassRead: {PerSecond: 100, Burst: 100}, ratelimit.ClassWrite: {PerSecond: 100, Burst: 100}}
	var openErrs, closedErrs atomic.Int64
	open, err := ratelimit.New(ratelimit.Config{Store: store, Classes: classes,
		OnStoreError: func(*http.Request, error) { openErrs.Add(1) }})
	require.NoError(t, err)
	closed, err := ratelimit.New(ratelimit.Config{Store: store, Classes: classes, FailClosed: true,
		OnStoreError: func(*http.Request, error) { closedErrs.Add(1) }})
	require.NoError(t, err)

	for _, l := range []*ratelimit.Limiter{open, closed} {
		got, _ := limitOnce(t, l, stamper, w)
		assert.Equal(t, 200, got.status)
		assert.Equal(t, `"read";q=100;w=1`, got.policy)
	}

	inst.Stop(t)
	got, _ := limitOnce(t, open, stamper, w)
	assert.Equal(t, outcome{status: 200}, got, "fail-open passes, without RateLimit headers")
	assert.Equal(t, int64(1), openErrs.Load())
	got, id := limitOnce(t, closed, stamper, w)
	assert.Equal(t, outcome{status: 500,
		body: `{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"` + id + `"}}`}, got, "fail-closed refuses")
	assert.Equal(t, int64(1), closedErrs.Load())
	assert.Contains(t, logs.String(), `"msg":"ratelimit: decision failed; request allowed (fail-open)"`)
	assert.Contains(t, logs.String(), `"msg":"ratelimit: decision failed; request refused (fail-closed)"`)
	assert.Contains(t, logs.String(), `"error":"ratelimit/redisstore: `, "the Redis failure is logged")

	inst.Start(t)
	for _, l := range []*ratelimit.Limiter{open, closed} {
		require.Eventually(t, func() bool {
			got, _ := limitOnce(t, l, stamper, w)
			return got.status == 200 && got.state != ""
		}, 5*time.Second, 20*time.Millisecond, "limiter recovers after Redis restarts")
	}
	// The restarted Redis is empty: its script cache too, so EVAL was used.
	got, _ = limitOnce(t, closed, stamper, w)
	assert.Equal(t, 200, got.status)
	assert.Equal(t, `"read";q=100;w=1`, got.policy)
}
