package ratelimit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/clientip"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/requestid"
)

// throttleOrigin is the wall time the fake clocks of the throttle tests
// start from.
var throttleOrigin = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// wall turns a store's fake clock into the throttle's clock, so that one
// Advance moves both.
func wall(clk *fakeClock) func() time.Time {
	return func() time.Time { return throttleOrigin.Add(clk.Now()) }
}

// ipKey keys requests by the X-Test-IP header, so that a table can name
// the client of each request.
func ipKey(r *http.Request) string { return r.Header.Get("X-Test-IP") }

// ipRequest is a request from the client ip.
func ipRequest(ip string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/projects", nil)
	r.Header.Set("X-Test-IP", ip)
	return r
}

// newTestThrottle returns a throttle on a fake clock shared with its
// private memory store.
func newTestThrottle(t *testing.T, cfg ThrottleConfig) (*Throttle, *fakeClock) {
	t.Helper()
	store, clk := newFakeStore(t, 0)
	if cfg.Store == nil {
		cfg.Store = store
	}
	if cfg.KeyFunc == nil {
		cfg.KeyFunc = ipKey
	}
	cfg.Now = wall(clk)
	th, err := NewThrottle(cfg)
	require.NoError(t, err)
	return th, clk
}

// retryAfterOf returns the RetryAfter of a RATE_LIMITED error, failing
// the test for anything else.
func retryAfterOf(t *testing.T, err error) time.Duration {
	t.Helper()
	e, ok := apierror.As(err)
	require.True(t, ok, "an *apierror.Error, got %v", err)
	require.Equal(t, apierror.CodeRateLimited, e.Code())
	details, err := e.Details()
	require.NoError(t, err)
	d, ok := details.(apierror.RateLimitedDetails)
	require.True(t, ok, "RATE_LIMITED details, got %T", details)
	return time.Duration(d.RetryAfterMs) * time.Millisecond
}

func TestNewThrottleConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ThrottleConfig
		wantErr string
	}{
		{"no KeyFunc", ThrottleConfig{}, "KeyFunc is required"},
		{"invalid class name", ThrottleConfig{KeyFunc: ipKey, Class: "auth failure"}, "invalid class"},
		{"invalid rate", ThrottleConfig{KeyFunc: ipKey, Rate: Rate{PerSecond: 1}}, "Burst must be at least 1"},
		{"negative rate", ThrottleConfig{KeyFunc: ipKey, Rate: Rate{PerSecond: -1, Burst: 1}}, "PerSecond must be positive"},
		{"negative MaxBlocked", ThrottleConfig{KeyFunc: ipKey, MaxBlocked: -1}, "MaxBlocked must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, err := NewThrottle(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, th)
		})
	}

	t.Run("defaults", func(t *testing.T) {
		th, err := NewThrottle(ThrottleConfig{KeyFunc: ipKey})
		require.NoError(t, err)
		assert.Equal(t, Class{Name: DefaultThrottleClass, Rate: DefaultThrottleRate}, th.class)
		assert.Equal(t, DefaultMaxBlocked, th.blocked.max)
		assert.IsType(t, &MemoryStore{}, th.store, "nil Store: a private memory store")
		assert.Nil(t, th.fallback, "a private memory store needs no fallback")
		// The default budget: Burst failures pass, the next is refused.
		for i := range DefaultThrottleRate.Burst {
			require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.1")), "failure %d", i+1)
		}
		require.Error(t, th.Fail(http.Header{}, ipRequest("192.0.2.1")))
	})
}

// TestThrottleSequence drives one throttle through a sequence of checks
// and failures on a fake clock: Burst failures are answered by the caller
// (nil), and the one that spends the last token blocks the client at once:
// every later request of that client is RATE_LIMITED before
// authentication, until the next token exists; other clients are not
// affected, and checks never spend anything.
func TestThrottleSequence(t *testing.T) {
	const ms = time.Millisecond
	th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 3}})
	const check, fail = "check", "fail"
	steps := []struct {
		name       string
		advance    time.Duration
		op         string
		ip         string
		retryAfter time.Duration // 0: nil expected
		header     string        // Retry-After set on the response header
	}{
		{"checks are free", 0, check, "198.51.100.7", 0, ""},
		{"checks are free (again)", 0, check, "198.51.100.7", 0, ""},
		{"failure 1 of the burst", 0, fail, "198.51.100.7", 0, ""},
		{"failure 2", 0, fail, "198.51.100.7", 0, ""},
		{"checks still pass after failures", 0, check, "198.51.100.7", 0, ""},
		{"failure 3: the last token, answered by the caller", 0, fail, "198.51.100.7", 0, ""},
		{"blocked at once, before authentication", 0, check, "198.51.100.7", 1000 * ms, "1"},
		{"a failure while blocked is refused without a store call", 0, fail, "198.51.100.7", 1000 * ms, "1"},
		{"another client is not blocked", 0, check, "203.0.113.5", 0, ""},
		{"another client has its own budget", 0, fail, "203.0.113.5", 0, ""},
		{"the block counts down", 400 * ms, check, "198.51.100.7", 600 * ms, "1"},
		{"still blocked 1ns before the end", 600*ms - 1, check, "198.51.100.7", 1 * ms, "1"},
		{"the block ends when the next token exists", 1, check, "198.51.100.7", 0, ""},
		{"the refilled token is spent: answered by the caller", 0, fail, "198.51.100.7", 0, ""},
		{"and blocked again for one interval", 0, check, "198.51.100.7", 1000 * ms, "1"},
		{"a full refill", 10 * time.Second, check, "198.51.100.7", 0, ""},
		{"the burst is back", 0, fail, "198.51.100.7", 0, ""},
		{"the burst is back (2)", 0, fail, "198.51.100.7", 0, ""},
		{"checks between failures cost nothing", 0, check, "198.51.100.7", 0, ""},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		h := http.Header{}
		var err error
		if st.op == check {
			err = th.Check(h, ipRequest(st.ip))
		} else {
			err = th.Fail(h, ipRequest(st.ip))
		}
		if st.retryAfter == 0 {
			require.NoError(t, err, st.name)
			assert.Empty(t, h, "%s: no header set", st.name)
			continue
		}
		assert.Equal(t, st.retryAfter, retryAfterOf(t, err), st.name)
		assert.Equal(t, st.header, h.Get("Retry-After"), st.name)
		assert.Equal(t, strconv.FormatInt(apierror.RetryAfterSeconds(st.retryAfter), 10), h.Get("Retry-After"),
			"%s: Retry-After agrees with retryAfterMs", st.name)
	}
}

func TestThrottleEmptyKeyIsNeitherCheckedNorCounted(t *testing.T) {
	mem, _ := newFakeStore(t, 0)
	store := &recordingStore{Store: mem}
	th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: func(*http.Request) string { return "" }, Rate: Rate{PerSecond: 1, Burst: 1}})
	require.NoError(t, err)
	for range 5 {
		require.NoError(t, th.Fail(http.Header{}, ipRequest("")))
		require.NoError(t, th.Check(http.Header{}, ipRequest("")))
	}
	assert.Zero(t, store.calls.Load(), "no store call for an empty key")
}

// TestThrottleBlockedCostsNoStoreCall: checks never call the store, and
// neither do failures of a client that is blocked.
func TestThrottleBlockedCostsNoStoreCall(t *testing.T) {
	mem, clk := newFakeStore(t, 0)
	store := &recordingStore{Store: mem}
	th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ipKey, Rate: Rate{PerSecond: 1, Burst: 2}, Now: wall(clk)})
	require.NoError(t, err)
	for range 100 {
		require.NoError(t, th.Check(http.Header{}, ipRequest("192.0.2.1")))
	}
	assert.Zero(t, store.calls.Load(), "checks of a client that never failed")
	require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.1")))
	require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.1")))
	require.Equal(t, int64(2), store.calls.Load())
	for range 100 {
		require.Error(t, th.Check(http.Header{}, ipRequest("192.0.2.1")))
		require.Error(t, th.Fail(http.Header{}, ipRequest("192.0.2.1")))
	}
	assert.Equal(t, int64(2), store.calls.Load(), "a blocked client costs no store call")
}

// TestThrottleBounded checks that the local block map never outgrows
// MaxBlocked: ended blocks are dropped first, then the block that ends
// soonest.
func TestThrottleBounded(t *testing.T) {
	const ms = time.Millisecond
	// Burst 1: the second failure of a client blocks it, for 1s.
	th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 1}, MaxBlocked: 3})
	block := func(ip string) {
		t.Helper()
		require.NoError(t, th.Fail(http.Header{}, ipRequest(ip)))
		require.Error(t, th.Fail(http.Header{}, ipRequest(ip)))
	}
	blocked := func(ip string) bool { return th.Check(http.Header{}, ipRequest(ip)) != nil }

	block("10.0.0.1") // ends at 1000ms
	clk.Advance(100 * ms)
	block("10.0.0.2") // ends at 1100ms
	clk.Advance(100 * ms)
	block("10.0.0.3") // ends at 1200ms
	require.Equal(t, 3, th.Blocked())

	clk.Advance(100 * ms)
	block("10.0.0.4") // ends at 1300ms; full: 10.0.0.1, which ends soonest, makes room
	assert.Equal(t, 3, th.Blocked())
	assert.False(t, blocked("10.0.0.1"), "the soonest-ending block was evicted")
	for _, ip := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		assert.True(t, blocked(ip), ip)
	}

	clk.Advance(950 * ms) // 1250ms: 10.0.0.2 and 10.0.0.3 have ended, 10.0.0.4 (at 1300ms) has not
	block("10.0.0.5")
	assert.Equal(t, 2, th.Blocked(), "ended blocks are dropped on insert")
	assert.True(t, blocked("10.0.0.4"))
	assert.True(t, blocked("10.0.0.5"))

	t.Run("a flood of clients", func(t *testing.T) {
		const max = 100
		th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 1}, MaxBlocked: max})
		for i := range 10_000 {
			ip := fmt.Sprintf("2001:db8::%x", i)
			require.NoError(t, th.Fail(http.Header{}, ipRequest(ip)))
			require.Error(t, th.Fail(http.Header{}, ipRequest(ip)))
			require.LessOrEqual(t, th.Blocked(), max)
			require.LessOrEqual(t, len(th.blocked.heap), max)
			if i%7 == 0 {
				clk.Advance(time.Millisecond)
			}
		}
		assert.Equal(t, max, th.Blocked())
		// The latest clients are the ones still blocked.
		assert.Error(t, th.Check(http.Header{}, ipRequest(fmt.Sprintf("2001:db8::%x", 9_999))))
		assert.NoError(t, th.Check(http.Header{}, ipRequest("2001:db8::0")))
	})
}

// TestThrottleFleet runs two throttles (two instances) on one store, as
// two servers share a Redis store: the failure budget is the client's
// across both, and each instance blocks after at most one more failure it
// sees itself.
func TestThrottleFleet(t *testing.T) {
	store, clk := newFakeStore(t, 0)
	newInstance := func() *Throttle {
		th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ipKey, Rate: Rate{PerSecond: 1, Burst: 3}, Now: wall(clk)})
		require.NoError(t, err)
		return th
	}
	a, b := newInstance(), newInstance()
	const ip = "198.51.100.7"
	steps := []struct {
		name    string
		th      *Throttle
		op      string
		limited bool
	}{
		{"a: failure 1", a, "fail", false},
		{"b: failure 2", b, "fail", false},
		{"a: failure 3, the last token of the shared budget: a blocks at once", a, "fail", false},
		{"a: blocked", a, "check", true},
		{"b: has not seen the budget run out", b, "check", false},
		{"b: one more failure, denied by the shared bucket", b, "fail", true},
		{"b: blocked", b, "check", true},
		{"a: still blocked", a, "check", true},
	}
	for _, st := range steps {
		var err error
		if st.op == "fail" {
			err = st.th.Fail(http.Header{}, ipRequest(ip))
		} else {
			err = st.th.Check(http.Header{}, ipRequest(ip))
		}
		if st.limited {
			assert.True(t, apierror.HasCode(err, apierror.CodeRateLimited), "%s: %v", st.name, err)
		} else {
			assert.NoError(t, err, st.name)
		}
	}
	clk.Advance(time.Second)
	assert.NoError(t, a.Check(http.Header{}, ipRequest(ip)), "the block ends on both instances when the next token exists")
	assert.NoError(t, b.Check(http.Header{}, ipRequest(ip)))
}

// flakyStore fails while down is set and decides with next otherwise.
type flakyStore struct {
	next  Store
	down  atomic.Bool
	cause error
}

func (s *flakyStore) Allow(ctx context.Context, key string, class Class, cost int) (Decision, error) {
	if s.down.Load() {
		return Decision{}, s.cause
	}
	return s.next.Allow(ctx, key, class, cost)
}

// TestThrottleStoreFailure checks the failure policy: a failure the store
// cannot count is logged with the request ID and reported, the request is
// answered as the caller answers it, and the throttle counts the failure
// itself, so an outage does not lift the throttle.
func TestThrottleStoreFailure(t *testing.T) {
	shared, clk := newFakeStore(t, 0)
	cause := errors.New("dial tcp 10.0.0.7:6379: connection refused")
	store := &flakyStore{next: shared, cause: cause}
	store.down.Store(true)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var events []event.Event
	th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ipKey, Rate: Rate{PerSecond: 1, Burst: 2}, Now: wall(clk),
		Events: func(_ context.Context, e event.Event) { events = append(events, e) }})
	require.NoError(t, err)
	stamper := requestid.NewStamper(requestid.Config{Logger: logger})

	var ids []string
	var results []error
	for range 3 {
		h := http.Header{}
		r := stamper.Stamp(h, ipRequest("192.0.2.9"))
		ids = append(ids, requestid.FromContext(r.Context()))
		results = append(results, th.Fail(h, r))
	}
	assert.NoError(t, results[0], "fail-open: the caller answers its 401")
	assert.NoError(t, results[1])
	assert.Equal(t, time.Second, retryAfterOf(t, results[2]), "counted locally while the store is down, and blocked")

	got := lines(t, &logs, "ratelimit: throttle:")
	require.Len(t, got, 2, "one line per failure the store could not count (the third was blocked locally)")
	for i, l := range got {
		assert.Equal(t, "WARN", l["level"])
		assert.Equal(t, ids[i], l["requestId"], "logged with the request ID")
		assert.Equal(t, cause.Error(), l["error"])
		assert.Equal(t, DefaultThrottleClass, l["class"])
	}
	failed := event.Event{Kind: event.KindRateLimit, Method: "POST", Class: DefaultThrottleClass, Outcome: event.OutcomeFailed,
		Component: event.ComponentRateLimit, Policy: event.PolicyFailOpen, Err: cause}
	allowed := event.Event{Kind: event.KindRateLimit, Method: "POST", Class: DefaultThrottleClass, Outcome: event.OutcomeAllowed}
	denied := event.Event{Kind: event.KindRateLimit, Method: "POST", Class: DefaultThrottleClass, Outcome: event.OutcomeDenied}
	assert.Equal(t, []event.Event{failed, allowed, failed, allowed, denied}, events)

	t.Run("without a request ID: Config.Logger", func(t *testing.T) {
		var own bytes.Buffer
		th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ipKey, Now: wall(clk),
			Logger: slog.New(slog.NewJSONHandler(&own, nil))})
		require.NoError(t, err)
		require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.10")))
		assert.Len(t, lines(t, &own, "ratelimit: throttle:"), 1)
	})

	t.Run("the store is back", func(t *testing.T) {
		store.down.Store(false)
		clk.Advance(10 * time.Second)
		events = nil
		require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.9")))
		assert.Equal(t, []event.Event{allowed}, events)
	})
}

// TestThrottleConcurrent fails and checks from many goroutines with the
// clock stopped: exactly Burst failures of each client pass, whatever the
// interleaving, and every later one is refused.
func TestThrottleConcurrent(t *testing.T) {
	const (
		burst      = 5
		clients    = 16
		goroutines = 8
		perClient  = 20 // failures per client per goroutine
	)
	th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: burst}, MaxBlocked: clients / 2})
	var passed [clients]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient * clients {
				c := (i + g) % clients
				r := ipRequest("192.0.2." + strconv.Itoa(c))
				_ = th.Check(http.Header{}, r)
				if th.Fail(http.Header{}, r) == nil {
					passed[c].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for c := range clients {
		assert.Equal(t, int64(burst), passed[c].Load(), "client %d: exactly the burst", c)
	}
	assert.LessOrEqual(t, th.Blocked(), clients/2)
}

// TestThrottleOverHTTP runs a small net/http server on a real listener:
// Check, then bearer authentication, then Fail on a failed one, every
// error rendered by httperror. A client that never fails is never charged;
// a guesser gets Burst 401s, then 429 with the exact envelope and
// Retry-After for every request, its right guesses included, until the
// block ends.
func TestThrottleOverHTTP(t *testing.T) {
	const apiKey = "sk_live_right"
	want := sha256.Sum256([]byte(apiKey))
	lookup := func(_ context.Context, token string) (principal.Principal, bool, error) {
		return principal.Principal{KeyID: "key_1"}, sha256.Sum256([]byte(token)) == want, nil
	}
	ips, err := clientip.New(clientip.Config{})
	require.NoError(t, err)
	store, clk := newFakeStore(t, 0)
	th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ips.Key, Rate: Rate{PerSecond: 0.5, Burst: 3}, Now: wall(clk)})
	require.NoError(t, err)
	writer, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	stamper := requestid.NewStamper(requestid.Config{Logger: slog.New(slog.DiscardHandler)})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = stamper.Stamp(w.Header(), r)
		if err := th.Check(w.Header(), r); err != nil {
			writer.Write(w, r, err)
			return
		}
		r, err := bearer.Authenticate(r, lookup)
		if err != nil {
			if terr := th.Fail(w.Header(), r); terr != nil {
				err = terr
			}
			writer.Write(w, r, err)
			return
		}
		_, _ = io.WriteString(w, "hello "+principal.KeyID(r))
	}))
	defer srv.Close()

	type result struct {
		status     int
		retryAfter string
		id         string
		body       string
	}
	get := func(token string) result {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/projects", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return result{res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get(requestid.Header), string(b)}
	}
	limited := func(id string, ms int) string {
		return `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.",` +
			`"requestId":"` + id + `","details":{"retryAfterMs":` + strconv.Itoa(ms) + `}}}`
	}

	for i := range 50 {
		require.Equal(t, http.StatusOK, get(apiKey).status, "request %d: authenticated traffic is never charged", i)
	}
	for i := range 3 {
		res := get("sk_live_guess" + strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, res.status, "guess %d: within the burst", i)
		assert.Empty(t, res.retryAfter)
	}
	res := get("sk_live_guess3")
	assert.Equal(t, http.StatusTooManyRequests, res.status, "the failure past the burst")
	assert.Equal(t, "2", res.retryAfter)
	assert.Equal(t, limited(res.id, 2000), res.body)

	clk.Advance(500 * time.Millisecond)
	res = get(apiKey)
	assert.Equal(t, http.StatusTooManyRequests, res.status, "a right guess while blocked is refused too")
	assert.Equal(t, "2", res.retryAfter, "1.5s rounded up")
	assert.Equal(t, limited(res.id, 1500), res.body)

	clk.Advance(1500 * time.Millisecond)
	assert.Equal(t, http.StatusOK, get(apiKey).status, "the block has ended")
	assert.Equal(t, http.StatusUnauthorized, get("sk_live_guess4").status, "the token refilled meanwhile")
	assert.Equal(t, http.StatusTooManyRequests, get("sk_live_guess5").status)
}

// TestThrottleAdmitsRatePerSecond measures what a guesser that never
// stops gets through: Burst lookups, then PerSecond, over a minute of
// guessing (one attempt per millisecond on the fake clock, from 0 to 60s
// inclusive: the refills at 1s, 2s, ..., 60s).
func TestThrottleAdmitsRatePerSecond(t *testing.T) {
	rate := Rate{PerSecond: 1, Burst: 10}
	th, clk := newTestThrottle(t, ThrottleConfig{Rate: rate})
	const seconds = 60
	const attempts = seconds*1000 + 1
	lookups, answered := 0, 0 // authentications run; failures answered 401
	r := ipRequest("203.0.113.66")
	for range attempts {
		h := http.Header{}
		if th.Check(h, r) == nil {
			lookups++ // the key lookup runs: its answer is what the guesser learns
			if th.Fail(h, r) == nil {
				answered++
			}
		}
		clk.Advance(time.Millisecond)
	}
	admitted := rate.Burst + seconds*int(rate.PerSecond)
	assert.Equal(t, admitted, lookups, "burst + rate·T lookups run")
	assert.Equal(t, admitted, answered, "each answered 401; every other attempt is refused before authentication")
	t.Logf("%d attempts from one IP in %ds: %d lookups run, %d answered 401 (burst %d + %v/s), %d refused 429 before authentication",
		attempts, seconds, lookups, answered, rate.Burst, rate.PerSecond, attempts-lookups)
}
