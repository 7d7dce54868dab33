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
		assert.Equal(t, DefaultMaxBlocked, th.attempts.max)
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
			require.LessOrEqual(t, len(th.attempts.heap), max)
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

	t.Run("attempts in flight are counted per instance", func(t *testing.T) {
		const ip = "198.51.100.8"
		c, d := newInstance(), newInstance()
		// One failure on each instance puts the key on record there: the
		// store's budget of 3 has 1 left, c last heard 2, d last heard 1.
		require.NoError(t, c.Fail(http.Header{}, ipRequest(ip)))
		require.NoError(t, d.Fail(http.Header{}, ipRequest(ip)))
		var reqs []*http.Request
		for _, th := range []*Throttle{c, c, d} {
			r, cancel := ctxRequest(t, ip)
			defer cancel()
			require.NoError(t, th.Check(http.Header{}, r), "each instance lets its own idea of the budget through")
			reqs = append(reqs, r)
		}
		for _, th := range []*Throttle{c, d} {
			r, cancel := ctxRequest(t, ip)
			defer cancel()
			require.Error(t, th.Check(http.Header{}, r), "one attempt more than the instance's idea of the budget")
		}
		// c's first failure spends the store's last token (and blocks c),
		// c's second is refused without a store call, d's is denied.
		var outcomes []bool
		for i, r := range reqs {
			th := c
			if i >= 2 {
				th = d
			}
			outcomes = append(outcomes, th.Fail(http.Header{}, r) == nil)
		}
		assert.Equal(t, []bool{true, false, false}, outcomes)
		assert.Error(t, c.Check(http.Header{}, ipRequest(ip)), "c: blocked since its own last token")
		assert.Error(t, d.Check(http.Header{}, ipRequest(ip)), "d: blocked since the denial")
	})
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

// ctxRequest is a request from the client ip whose context ends with
// cancel, as the context of a request net/http serves ends when its
// handler returns.
func ctxRequest(t *testing.T, ip string) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	return ipRequest(ip).WithContext(ctx), cancel
}

// barrier opens when n parties have arrived: the guesses of the
// concurrency tests whose lookup runs wait on it, so that every other
// guess is decided while they are all still in flight.
type barrier struct {
	n       int64
	arrived atomic.Int64
	open    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: int64(n), open: make(chan struct{})} }

func (b *barrier) arrive() {
	if b.arrived.Add(1) == b.n {
		close(b.open)
	}
}

// TestThrottleConcurrent guesses from one client with many goroutines at
// once, the clock stopped, and counts the lookups that run (the requests
// Check lets through): each lookup waits until every goroutine is either
// in a lookup or done with all its attempts, so that no lookup ends (and
// no Fail is counted) before every other attempt was decided. Exactly
// Burst lookups run, whatever the interleaving; every other attempt is
// refused before authentication.
func TestThrottleConcurrent(t *testing.T) {
	const (
		burst      = 5
		goroutines = 64
		attempts   = 20 // per goroutine
		ip         = "203.0.113.77"
	)
	// The key has one failure on record (a key that never failed is not
	// reserved, see TestThrottleInFlight): burst left.
	th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: burst + 1}})
	require.NoError(t, th.Fail(http.Header{}, ipRequest(ip)))
	all := newBarrier(goroutines)
	var lookups, refused, answered atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			inLookup := false
			for range attempts {
				r, cancel := ctxRequest(t, ip)
				h := http.Header{}
				if err := th.Check(h, r); err != nil {
					assert.True(t, apierror.HasCode(err, apierror.CodeRateLimited), "%v", err)
					assert.NotEmpty(t, h.Get("Retry-After"))
					refused.Add(1)
					cancel()
					continue
				}
				lookups.Add(1) // the credential lookup runs
				if !inLookup {
					inLookup = true
					all.arrive()
				}
				<-all.open // the lookup is in flight until every attempt is decided
				if th.Fail(h, r) == nil {
					answered.Add(1)
				}
				cancel() // the request ends
			}
			if !inLookup {
				all.arrive()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(burst), lookups.Load(), "lookups run out of %d concurrent guesses", goroutines*attempts)
	assert.Equal(t, int64(burst), answered.Load(), "each answered 401")
	assert.Equal(t, int64(goroutines*attempts-burst), refused.Load(), "every other attempt refused before its lookup")
	t.Logf("%d goroutines × %d guesses from one IP, burst %d: %d lookups run, %d refused 429 before authentication",
		goroutines, attempts, burst, lookups.Load(), refused.Load())

	t.Run("over a real listener", func(t *testing.T) {
		const guesses = 200
		ips, err := clientip.New(clientip.Config{})
		require.NoError(t, err)
		store, clk := newFakeStore(t, 0)
		th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ips.Key, Rate: Rate{PerSecond: 1, Burst: burst + 1}, Now: wall(clk)})
		require.NoError(t, err)
		onRecord := httptest.NewRequest(http.MethodPost, "/", nil)
		onRecord.RemoteAddr = "127.0.0.1:1234"
		require.NoError(t, th.Fail(http.Header{}, onRecord), "the client has one failure on record")
		writer, err := httperror.New(httperror.Config{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		all := newBarrier(guesses)
		var lookups atomic.Int64
		lookup := func(context.Context, string) (principal.Principal, bool, error) {
			lookups.Add(1)
			all.arrive()
			<-all.open
			return principal.Principal{}, false, nil
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := th.Check(w.Header(), r); err != nil {
				all.arrive()
				writer.Write(w, r, err)
				return
			}
			r, err := bearer.Authenticate(r, lookup)
			if terr := th.Fail(w.Header(), r); terr != nil {
				err = terr
			}
			writer.Write(w, r, err)
		}))
		defer srv.Close()

		statuses := make(chan int, guesses)
		var wg sync.WaitGroup
		for i := range guesses {
			wg.Go(func() {
				req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/projects", nil)
				if !assert.NoError(t, err) {
					return
				}
				req.Header.Set("Authorization", "Bearer sk_live_guess"+strconv.Itoa(i))
				res, err := srv.Client().Do(req)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				statuses <- res.StatusCode
			})
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		assert.Equal(t, int64(burst), lookups.Load(), "lookups run out of %d concurrent guesses", guesses)
		assert.Equal(t, map[int]int{http.StatusUnauthorized: burst, http.StatusTooManyRequests: guesses - burst}, count)
		t.Logf("%d concurrent guesses over HTTP, burst %d: %d lookups run", guesses, burst, lookups.Load())
	})

	t.Run("many clients: the store counts exactly Burst failures of each", func(t *testing.T) {
		const clients, perClient = 16, 20 // failures per client per goroutine
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: burst}, MaxBlocked: clients / 2})
		var passed [clients]atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines / 8 {
			wg.Go(func() {
				for i := range perClient * clients {
					c := (i + g) % clients
					r, cancel := ctxRequest(t, "192.0.2."+strconv.Itoa(c))
					_ = th.Check(http.Header{}, r)
					if th.Fail(http.Header{}, r) == nil {
						passed[c].Add(1)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		for c := range clients {
			assert.Equal(t, int64(burst), passed[c].Load(), "client %d: exactly the burst", c)
		}
		assert.LessOrEqual(t, th.Blocked(), clients/2)
	})
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
		th.Done(r)
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

// TestThrottleInFlight checks the reservation Check makes for an attempt
// and its three ends: Fail, the end of the request's context, and never
// twice.
func TestThrottleInFlight(t *testing.T) {
	const ip = "198.51.100.40"
	ok := func(t *testing.T, th *Throttle, r *http.Request, msg string) {
		t.Helper()
		require.NoError(t, th.Check(http.Header{}, r), msg)
	}
	refused := func(t *testing.T, th *Throttle, r *http.Request, retryAfter time.Duration, msg string) {
		t.Helper()
		h := http.Header{}
		err := th.Check(h, r)
		require.Error(t, err, msg)
		assert.Equal(t, retryAfter, retryAfterOf(t, err), msg)
		assert.Equal(t, strconv.FormatInt(apierror.RetryAfterSeconds(retryAfter), 10), h.Get("Retry-After"), msg)
	}

	// A key is reserved for once it has a failure on record: each case
	// starts with one, so a burst of n+1 leaves n.
	onRecord := func(t *testing.T, th *Throttle) {
		t.Helper()
		require.NoError(t, th.Fail(http.Header{}, ipRequest(ip)))
	}

	t.Run("a key that never failed is not reserved", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 1}})
		for range 5 {
			r, cancel := ctxRequest(t, ip)
			defer cancel()
			ok(t, th, r, "any number of attempts at once: a partner's NAT")
		}
		assert.Zero(t, th.Blocked(), "nothing tracked")
	})

	t.Run("attempts in flight use up the budget", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 3}})
		onRecord(t, th)
		a, cancelA := ctxRequest(t, ip)
		defer cancelA()
		b, cancelB := ctxRequest(t, ip)
		defer cancelB()
		c, cancelC := ctxRequest(t, ip)
		defer cancelC()
		ok(t, th, a, "attempt 1 of the burst")
		ok(t, th, b, "attempt 2")
		refused(t, th, c, time.Second, "a third attempt while two are in flight: its turn comes when one token more exists, if both fail")
		refused(t, th, ipRequest(ip), time.Second, "a request whose context never ends is checked too")
		ok(t, th, ipRequest("203.0.113.41"), "another client is not affected")
		ok(t, th, a, "checking a request again reserves nothing more")
	})

	t.Run("Fail ends the attempt once it is counted", func(t *testing.T) {
		th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 4}})
		onRecord(t, th)
		a, cancelA := ctxRequest(t, ip)
		b, cancelB := ctxRequest(t, ip)
		defer cancelB()
		ok(t, th, a, "a")
		ok(t, th, b, "b")
		// Fail with the request authentication returned (a child context
		// of the request's, as bearer.Authenticate makes on success).
		require.NoError(t, th.Fail(http.Header{}, principal.Set(a, principal.Principal{KeyID: "key_1"})))
		cancelA() // a's context ends after its Fail: no second release
		c, cancelC := ctxRequest(t, ip)
		defer cancelC()
		d, cancelD := ctxRequest(t, ip)
		defer cancelD()
		ok(t, th, c, "2 tokens left, b in flight: c fits")
		refused(t, th, d, time.Second, "b and c in flight use up the 2 tokens; if both fail, the next token exists in 1s")
		require.NoError(t, th.Fail(http.Header{}, b))
		require.NoError(t, th.Fail(http.Header{}, c), "c spends the last token")
		refused(t, th, d, time.Second, "blocked: the next token exists in 1s")
		clk.Advance(time.Second)
		ok(t, th, d, "the block ends when the next token exists")
	})

	t.Run("the end of the request's context ends the attempt", func(t *testing.T) {
		th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 2}})
		onRecord(t, th)
		a, cancelA := ctxRequest(t, ip)
		b, cancelB := ctxRequest(t, ip)
		defer cancelB()
		ok(t, th, a, "a")
		refused(t, th, b, time.Second, "a in flight")
		cancelA() // a succeeded, or was abandoned: its handler returned
		ok(t, th, b, "a's attempt ended with its request")
		clk.Advance(time.Second) // the failure on record has refilled
		cancelB()
		require.Eventually(t, func() bool { return th.Blocked() == 0 }, 5*time.Second, time.Millisecond,
			"without another Check, the release that context.AfterFunc runs forgets the key")
	})

	t.Run("Done ends the attempt of a request that authenticated", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 3}})
		onRecord(t, th)
		a, cancelA := ctxRequest(t, ip)
		defer cancelA()
		b, cancelB := ctxRequest(t, ip)
		defer cancelB()
		c, cancelC := ctxRequest(t, ip)
		defer cancelC()
		ok(t, th, a, "a")
		ok(t, th, b, "b")
		refused(t, th, c, time.Second, "a and b in flight")
		th.Done(principal.Set(a, principal.Principal{KeyID: "key_1"})) // a authenticated; its handler still runs
		th.Done(a)                                                     // again: nothing more
		ok(t, th, c, "a's attempt ended, once")
		refused(t, th, ipRequest(ip), time.Second, "b and c in flight")
		require.NoError(t, th.Fail(http.Header{}, b))
		th.Done(b) // after Fail: nothing
		refused(t, th, ipRequest(ip), time.Second, "one token left, c in flight")
		th.Done(c)
		ok(t, th, ipRequest(ip), "nothing in flight, one token left")
		th.Done(ipRequest(ip)) // never checked, and no context that ends: nothing
		assert.Equal(t, 1, th.Blocked(), "the spent token is remembered")
	})

	t.Run("a request that already ended reserves nothing", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 1}})
		a, cancelA := ctxRequest(t, ip)
		cancelA()
		ok(t, th, a, "a")
		assert.Zero(t, th.Blocked())
		ok(t, th, ipRequest(ip), "nothing in flight")
	})
}

// TestThrottleSuccessesAreNeverRefused: a request that authenticates
// gives its attempt back when it ends, so a client whose requests
// authenticate one after another is never refused, even with a budget of
// one, called directly or over a real listener.
func TestThrottleSuccessesAreNeverRefused(t *testing.T) {
	const requests = 1000
	rate := Rate{PerSecond: 0.001, Burst: 1}

	t.Run("direct", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: rate})
		for i := range requests {
			r, cancel := ctxRequest(t, "192.0.2.50")
			require.NoError(t, th.Check(http.Header{}, r), "request %d", i)
			cancel() // authenticated, served: the handler returns
		}
		// One failure still spends the whole budget.
		r, cancel := ctxRequest(t, "192.0.2.50")
		require.NoError(t, th.Check(http.Header{}, r))
		require.NoError(t, th.Fail(http.Header{}, r))
		cancel()
		require.Error(t, th.Check(http.Header{}, ipRequest("192.0.2.50")))
	})

	t.Run("at once, with Done", func(t *testing.T) {
		// Customers behind one NAT: their requests are all being served at
		// once, and each gives its attempt back when it has authenticated.
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: rate})
		for i := range requests {
			r, cancel := ctxRequest(t, "192.0.2.51")
			defer cancel() // still being served
			require.NoError(t, th.Check(http.Header{}, r), "request %d", i)
			th.Done(principal.Set(r, principal.Principal{KeyID: "key_1"}))
		}
	})

	t.Run("over a real listener", func(t *testing.T) {
		ips, err := clientip.New(clientip.Config{})
		require.NoError(t, err)
		store, clk := newFakeStore(t, 0)
		th, err := NewThrottle(ThrottleConfig{Store: store, KeyFunc: ips.Key, Rate: rate, Now: wall(clk)})
		require.NoError(t, err)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := th.Check(w.Header(), r); err != nil {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			_, _ = io.WriteString(w, "hello") // authenticated
		}))
		defer srv.Close()
		for i := range requests {
			res, err := srv.Client().Get(srv.URL)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			require.NoError(t, res.Body.Close())
			require.Equal(t, http.StatusOK, res.StatusCode, "request %d", i)
		}
	})
}

// TestThrottleBoundedInFlight floods the throttle with attempts of
// distinct clients that stay in flight: the local map never outgrows
// MaxBlocked, and the attempt of a key that was evicted, when it ends,
// does not release an attempt of the key's new entry.
func TestThrottleBoundedInFlight(t *testing.T) {
	const max, clients = 100, 10_000
	th, clk := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 3}, MaxBlocked: max})
	cancels := make([]context.CancelFunc, 0, clients)
	for i := range clients {
		ip := fmt.Sprintf("2001:db8::%x", i)
		require.NoError(t, th.Fail(http.Header{}, ipRequest(ip)), "client %d: a failure on record", i)
		r, cancel := ctxRequest(t, ip)
		cancels = append(cancels, cancel)
		require.NoError(t, th.Check(http.Header{}, r), "client %d: an attempt within the budget is never refused", i)
		require.LessOrEqual(t, th.Blocked(), max)
		require.LessOrEqual(t, len(th.attempts.heap), max)
	}
	assert.Equal(t, max, th.Blocked())
	clk.Advance(time.Second) // every failure on record has refilled
	for _, cancel := range cancels {
		cancel()
	}
	require.Eventually(t, func() bool { return th.Blocked() == 0 }, 5*time.Second, time.Millisecond,
		"every attempt ended: nothing left to remember")

	t.Run("an evicted attempt releases nothing of the key's new entry", func(t *testing.T) {
		th, _ := newTestThrottle(t, ThrottleConfig{Rate: Rate{PerSecond: 1, Burst: 3}, MaxBlocked: 1})
		a1, cancelA1 := ctxRequest(t, "192.0.2.61")
		a2, cancelA2 := ctxRequest(t, "192.0.2.61")
		a3, cancelA3 := ctxRequest(t, "192.0.2.61")
		defer func() { cancelA2(); cancelA3() }()
		require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.61")), "on record: 2 left")
		require.NoError(t, th.Check(http.Header{}, a1))
		require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.62")), "evicts a1's entry")
		require.NoError(t, th.Fail(http.Header{}, ipRequest("192.0.2.61")), "a fresh entry for the key (evicts the other's): 1 left")
		require.NoError(t, th.Check(http.Header{}, a2), "a2 takes the last token's attempt")
		cancelA1()
		require.Error(t, th.Check(http.Header{}, a3), "a2 is still in flight")
		require.NoError(t, th.Fail(http.Header{}, a1), "a1's failure is counted")
		require.Error(t, th.Check(http.Header{}, a3))
		assert.Equal(t, 1, th.Blocked())
	})
}

// TestThrottlePrivateStoreClock: without a Store, the throttle's private
// store runs on the throttle's clock, so a fake clock moves blocks and
// refills together.
func TestThrottlePrivateStoreClock(t *testing.T) {
	clk := &fakeClock{}
	th, err := NewThrottle(ThrottleConfig{KeyFunc: ipKey, Rate: Rate{PerSecond: 1, Burst: 1}, Now: wall(clk)})
	require.NoError(t, err)
	r := ipRequest("192.0.2.70")
	require.NoError(t, th.Fail(http.Header{}, r))
	assert.Equal(t, time.Second, retryAfterOf(t, th.Check(http.Header{}, r)))
	clk.Advance(time.Second)
	require.NoError(t, th.Check(http.Header{}, r), "the block ends on the fake clock")
	require.NoError(t, th.Fail(http.Header{}, r), "the private store refilled on the same clock")
	assert.Equal(t, time.Second, retryAfterOf(t, th.Fail(http.Header{}, r)), "and its budget is spent again")
}
