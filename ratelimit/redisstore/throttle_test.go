package redisstore

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/requestid"
)

// throttleRequest is a request from the client ip (keyed by the
// X-Test-IP header).
func throttleRequest(ip string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/projects", nil)
	r.Header.Set("X-Test-IP", ip)
	return r
}

func throttleKey(r *http.Request) string { return "ip:" + r.Header.Get("X-Test-IP") }

// TestThrottleFleet runs two instances' throttles, each on its own store,
// on one Redis (a single server and a Cluster): the failure budget of a
// client is shared, and each instance blocks the client after at most one
// more failure of its own.
func TestThrottleFleet(t *testing.T) {
	forEachRedis(t, func(t *testing.T, c redis.UniversalClient, prefix string) {
		// A rate slow enough that nothing refills during the test.
		rate := ratelimit.Rate{PerSecond: 0.001, Burst: 3}
		instance := func() *ratelimit.Throttle {
			th, err := ratelimit.NewThrottle(ratelimit.ThrottleConfig{Store: newStoreOn(t, c, prefix), KeyFunc: throttleKey, Rate: rate})
			require.NoError(t, err)
			return th
		}
		a, b := instance(), instance()
		const ip = "198.51.100.7"
		steps := []struct {
			name    string
			th      *ratelimit.Throttle
			fail    bool // Fail, else Check
			limited bool
		}{
			{"a: failure 1", a, true, false},
			{"b: failure 2", b, true, false},
			{"a: failure 3, the last token of the shared budget: a blocks at once", a, true, false},
			{"a: blocked before authentication", a, false, true},
			{"b: has not seen the budget run out", b, false, false},
			{"b: one more failure, denied by the shared bucket", b, true, true},
			{"b: blocked before authentication", b, false, true},
			{"another client is not affected", nil, true, false},
		}
		for _, st := range steps {
			th, r := st.th, throttleRequest(ip)
			if th == nil {
				th, r = a, throttleRequest("203.0.113.5")
			}
			h := http.Header{}
			var err error
			if st.fail {
				err = th.Fail(h, r)
			} else {
				err = th.Check(h, r)
			}
			if !st.limited {
				assert.NoError(t, err, st.name)
				continue
			}
			require.True(t, apierror.HasCode(err, apierror.CodeRateLimited), "%s: %v", st.name, err)
			secs, perr := strconv.Atoi(h.Get("Retry-After"))
			require.NoError(t, perr, st.name)
			// One token of 0.001/s takes 1000s.
			assert.GreaterOrEqual(t, secs, 990, st.name)
			assert.LessOrEqual(t, secs, 1000, st.name)
		}
	})
}

// TestThrottleRedisOutage stops Redis under a throttle: failures are
// logged with the request ID and counted by the instance itself, so the
// throttle still holds, and Redis decides again once it is back (this
// private server has no persistence: its budgets start afresh).
func TestThrottleRedisOutage(t *testing.T) {
	inst := redistest.Private(t)
	store, err := New(redisClient(t, inst), Config{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	stamper := requestid.NewStamper(requestid.Config{Logger: logger})
	th, err := ratelimit.NewThrottle(ratelimit.ThrottleConfig{Store: store, KeyFunc: throttleKey,
		Rate: ratelimit.Rate{PerSecond: 0.001, Burst: 2}})
	require.NoError(t, err)
	fail := func(ip string) (error, string) {
		h := http.Header{}
		r := stamper.Stamp(h, throttleRequest(ip))
		return th.Fail(h, r), requestid.FromContext(r.Context())
	}

	err, _ = fail("192.0.2.1")
	require.NoError(t, err, "counted in Redis")

	inst.Stop(t)
	err, id := fail("192.0.2.2")
	assert.NoError(t, err, "fail-open: the caller answers its 401")
	assert.Contains(t, logs.String(), `"requestId":"`+id+`"`)
	assert.Contains(t, logs.String(), "ratelimit: throttle: store failed; failure counted by this instance only (fail-open)")
	err, _ = fail("192.0.2.2")
	assert.NoError(t, err)
	err, _ = fail("192.0.2.2")
	assert.True(t, apierror.HasCode(err, apierror.CodeRateLimited), "the instance's own count blocks during the outage: %v", err)

	inst.Start(t)
	attempt := 0
	require.Eventually(t, func() bool {
		attempt++ // a fresh client each time: none is blocked by the local count
		before := bytes.Count(logs.Bytes(), []byte("ratelimit: throttle"))
		err, _ := fail("198.51.100." + strconv.Itoa(attempt))
		return err == nil && bytes.Count(logs.Bytes(), []byte("ratelimit: throttle")) == before
	}, 10*time.Second, 50*time.Millisecond, "Redis decides again")
	lines := bytes.Count(logs.Bytes(), []byte("ratelimit: throttle"))
	for range 2 {
		err, _ = fail("192.0.2.3")
		require.NoError(t, err)
	}
	err, _ = fail("192.0.2.3")
	assert.True(t, apierror.HasCode(err, apierror.CodeRateLimited), "blocked once Redis's budget is spent: %v", err)
	assert.Equal(t, lines, bytes.Count(logs.Bytes(), []byte("ratelimit: throttle")), "no store failure since")
}
