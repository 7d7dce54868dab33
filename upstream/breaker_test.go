package upstream_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
)

const res = "tiktok-publish"

// TestBreakerOpensAfterFailures: the Nth consecutive failure opens the
// circuit, a success in between starts the count again, and the refusal is
// CIRCUIT_OPEN with the exact envelope.
func TestBreakerOpensAfterFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		cooldown time.Duration
		wantWait string
	}{
		{"defaults", 0, 0, "30"},
		{"one failure, 10s", 1, 10 * time.Second, "10"},
		{"three failures, 1500ms", 3, 1500 * time.Millisecond, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			b := newBreaker(t, upstream.BreakerConfig{Failures: tc.failures, Cooldown: tc.cooldown, Clock: clock})
			c := mustCircuit(t, b, apierror.PlatformTikTok, res)
			n := tc.failures
			if n == 0 {
				n = upstream.DefaultFailures
			}
			if n > 1 {
				fail(t, c, n-1)
				p, err := c.Allow(context.Background())
				require.NoError(t, err)
				p.Done(upstream.Succeeded) // starts the count again
				fail(t, c, n-1)
				assert.Equal(t, upstream.Closed, c.State())
			}
			fail(t, c, 1)
			assert.Equal(t, upstream.Open, c.State())
			_, err := c.Allow(context.Background())
			e, ok := apierror.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, 503, e.Status())
			assert.Equal(t, `{"error":{"code":"CIRCUIT_OPEN","message":"A circuit breaker on a platform integration is open.","requestId":"req_1","details":{"resource":"tiktok-publish","retryAfterSeconds":`+tc.wantWait+`}}}`, string(e.Render("req_1")))
		})
	}
}

// TestBreakerRetryAfterFalls: retryAfterSeconds is the real time left,
// rounded up, at least 1, and refused calls do not extend the cooldown.
func TestBreakerRetryAfterFalls(t *testing.T) {
	clock := newClock()
	b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Cooldown: 30 * time.Second, Clock: clock})
	c := mustCircuit(t, b, apierror.PlatformMeta, "meta-publish")
	fail(t, c, 1)
	for _, step := range []struct {
		advance time.Duration
		want    int64
	}{
		{0, 30},
		{500 * time.Millisecond, 30}, // 29.5 s rounds up
		{9500 * time.Millisecond, 20},
		{9 * time.Second, 11},
		{10*time.Second + 900*time.Millisecond, 1}, // 0.1 s left
	} {
		clock.Advance(step.advance)
		for i := 0; i < 3; i++ { // refused calls change nothing
			_, err := c.Allow(context.Background())
			circuitOpen(t, err, "meta-publish", step.want)
		}
	}
	clock.Advance(100 * time.Millisecond) // exactly 30 s after opening
	p, err := c.Allow(context.Background())
	require.NoError(t, err, "the cooldown was not extended by the refused calls")
	assert.True(t, p.Probe())
	p.Done(upstream.Succeeded)
	assert.Equal(t, upstream.Closed, c.State())
}

// TestBreakerHalfOpen covers the probe: exactly one call goes through, the
// others wait 1 s; its verdict closes, re-opens, or (abandoned) lets the
// next call probe.
func TestBreakerHalfOpen(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outcome   upstream.Outcome
		wantState upstream.State
		// after the verdict: what the next call gets
		nextErr     bool
		nextWait    int64
		nextIsProbe bool
	}{
		{"success closes", upstream.Succeeded, upstream.Closed, false, 0, false},
		{"failure re-opens for a full cooldown", upstream.Failed, upstream.Open, true, 20, false},
		{"abandoned lets the next call probe", upstream.Abandoned, upstream.HalfOpen, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			b := newBreaker(t, upstream.BreakerConfig{Failures: 2, Cooldown: 20 * time.Second, Clock: clock})
			c := mustCircuit(t, b, apierror.PlatformApple, "asc-builds")
			fail(t, c, 2)
			clock.Advance(20 * time.Second)
			assert.Equal(t, upstream.HalfOpen, c.State())
			probe, err := c.Allow(context.Background())
			require.NoError(t, err)
			require.True(t, probe.Probe())
			for i := 0; i < 3; i++ {
				_, err := c.Allow(context.Background())
				circuitOpen(t, err, "asc-builds", 1)
			}
			probe.Done(tc.outcome)
			assert.Equal(t, tc.wantState, c.State())
			next, err := c.Allow(context.Background())
			if tc.nextErr {
				circuitOpen(t, err, "asc-builds", tc.nextWait)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.nextIsProbe, next.Probe())
			next.Done(upstream.Succeeded)
			assert.Equal(t, upstream.Closed, c.State())
		})
	}
}

// TestBreakerCircuitsAreIndependent: one (platform, resource) opening
// leaves the others closed, and the same pair is the same circuit.
func TestBreakerCircuitsAreIndependent(t *testing.T) {
	b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Clock: newClock()})
	a := mustCircuit(t, b, apierror.PlatformTikTok, "publish")
	same := mustCircuit(t, b, apierror.PlatformTikTok, "publish")
	other := mustCircuit(t, b, apierror.PlatformTikTok, "upload")
	meta := mustCircuit(t, b, apierror.PlatformMeta, "publish")
	require.Same(t, a, same)
	fail(t, a, 1)
	assert.Equal(t, upstream.Open, same.State())
	assert.Equal(t, upstream.Closed, other.State())
	assert.Equal(t, upstream.Closed, meta.State())
	assert.Equal(t, apierror.PlatformTikTok, a.Platform())
	assert.Equal(t, "publish", a.Resource())
}

// TestBreakerFleetInMemory runs two breakers (two "instances") on one
// MemoryStore: the open state, the remaining time, the single probe and
// its verdict are shared.
func TestBreakerFleetInMemory(t *testing.T) {
	clock := newClock()
	store, err := upstream.NewMemoryStore(upstream.MemoryConfig{})
	require.NoError(t, err)
	counting := &countingStore{Store: store}
	a := mustCircuit(t, newBreaker(t, upstream.BreakerConfig{Failures: 3, Cooldown: 30 * time.Second, Store: counting, Clock: clock}), apierror.PlatformTikTok, res)
	bb := mustCircuit(t, newBreaker(t, upstream.BreakerConfig{Failures: 3, Cooldown: 30 * time.Second, Store: store, Clock: clock}), apierror.PlatformTikTok, res)

	fail(t, a, 3)
	assert.Equal(t, int64(1), counting.trips.Load(), "one Store call for the trip")
	clock.Advance(4 * time.Second)
	_, err = bb.Allow(context.Background())
	circuitOpen(t, err, res, 26)
	_, err = a.Allow(context.Background())
	circuitOpen(t, err, res, 26)

	clock.Advance(26 * time.Second)
	probe, err := bb.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, probe.Probe())
	_, err = a.Allow(context.Background()) // the fleet's probe is taken
	circuitOpen(t, err, res, 1)

	probe.Done(upstream.Failed) // re-opens everywhere
	_, err = a.Allow(context.Background())
	circuitOpen(t, err, res, 30)

	clock.Advance(30 * time.Second)
	probe, err = a.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, probe.Probe())
	probe.Done(upstream.Succeeded)
	assert.Equal(t, upstream.Closed, bb.State(), "the verdict reached the other instance")
	p, err := bb.Allow(context.Background())
	require.NoError(t, err)
	assert.False(t, p.Probe())
	p.Done(upstream.Succeeded)
}

// TestBreakerClosedPathTouchesNoStore: closed calls, successful or failing
// below the threshold, make no Store call.
func TestBreakerClosedPathTouchesNoStore(t *testing.T) {
	store, err := upstream.NewMemoryStore(upstream.MemoryConfig{})
	require.NoError(t, err)
	counting := &countingStore{Store: store}
	c := mustCircuit(t, newBreaker(t, upstream.BreakerConfig{Failures: 3, Store: counting}), apierror.PlatformMeta, "graph")
	for i := 0; i < 1000; i++ {
		p, err := c.Allow(context.Background())
		require.NoError(t, err)
		if i%3 == 0 {
			p.Done(upstream.Failed)
		} else {
			p.Done(upstream.Succeeded)
		}
	}
	assert.Zero(t, counting.total())
	assert.Equal(t, upstream.Closed, c.State())
}

// TestBreakerStoreDown: with an unreachable Store the breaker still opens,
// refuses, probes and closes on its own, and logs the outage once.
func TestBreakerStoreDown(t *testing.T) {
	clock := newClock()
	var logs logBuffer
	store := &downStore{}
	b := newBreaker(t, upstream.BreakerConfig{Failures: 2, Cooldown: 10 * time.Second, Store: store, Clock: clock, Logger: logs.logger()})
	c := mustCircuit(t, b, apierror.PlatformInstagram, "ig-publish")
	fail(t, c, 2)
	_, err := c.Allow(context.Background())
	circuitOpen(t, err, "ig-publish", 10)
	clock.Advance(10 * time.Second)
	probe, err := c.Allow(context.Background())
	require.NoError(t, err)
	require.True(t, probe.Probe(), "probes on its own authority")
	_, err = c.Allow(context.Background())
	circuitOpen(t, err, "ig-publish", 1)
	probe.Done(upstream.Succeeded)
	assert.Equal(t, upstream.Closed, c.State())
	assert.Equal(t, int64(3), store.calls.Load(), "trip, probe, reset were attempted")
	down := logs.matching(t, "store unavailable")
	require.Len(t, down, 1, "the outage is logged once")
	assert.Equal(t, "WARN", down[0]["level"])
	assert.Equal(t, errDown.Error(), down[0]["error"])
	assert.Len(t, logs.matching(t, "circuit opened"), 1)
	assert.Len(t, logs.matching(t, "circuit closed"), 1)
}

// TestBreakerCanceledProbeRequest: a caller whose context ends while the
// probe is being requested is refused and leaves the probe to the next
// caller.
func TestBreakerCanceledProbeRequest(t *testing.T) {
	clock := newClock()
	b := newBreaker(t, upstream.BreakerConfig{Failures: 1, Cooldown: time.Second, Clock: clock})
	c := mustCircuit(t, b, apierror.PlatformTikTok, res)
	fail(t, c, 1)
	clock.Advance(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Allow(ctx)
	circuitOpen(t, err, res, 1)
	p, err := c.Allow(context.Background())
	require.NoError(t, err)
	assert.True(t, p.Probe())
	p.Done(upstream.Succeeded)
}

// TestBreakerConcurrent hammers one circuit from many goroutines with
// mixed outcomes while the clock moves: at most one probe is ever in
// flight, and -race finds no data race.
func TestBreakerConcurrent(t *testing.T) {
	clock := newClock()
	b := newBreaker(t, upstream.BreakerConfig{Failures: 3, Cooldown: time.Second, Clock: clock})
	c := mustCircuit(t, b, apierror.PlatformTikTok, res)
	var inFlight, maxInFlight, probes, refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				p, err := c.Allow(context.Background())
				if err != nil {
					refused.Add(1)
					if i%50 == 0 {
						clock.Advance(100 * time.Millisecond)
					}
					continue
				}
				if p.Probe() {
					probes.Add(1)
					n := inFlight.Add(1)
					for {
						m := maxInFlight.Load()
						if n <= m || maxInFlight.CompareAndSwap(m, n) {
							break
						}
					}
					inFlight.Add(-1)
				}
				switch (g + i) % 4 {
				case 0, 1:
					p.Done(upstream.Failed)
				case 2:
					p.Done(upstream.Succeeded)
				default:
					p.Done(upstream.Abandoned)
				}
			}
		}(g)
	}
	wg.Wait()
	assert.Equal(t, int64(1), maxInFlight.Load(), "one probe at a time")
	assert.Positive(t, probes.Load())
	assert.Positive(t, refused.Load())
}

// TestBreakerConfig: invalid configurations and circuit names are errors,
// never panics.
func TestBreakerConfig(t *testing.T) {
	for _, cfg := range []upstream.BreakerConfig{
		{Failures: -1}, {Cooldown: -time.Second}, {ProbeLease: -1}, {StoreTimeout: -1},
		{Store: (*upstream.MemoryStore)(nil)},
	} {
		_, err := upstream.NewBreaker(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	b := newBreaker(t, upstream.BreakerConfig{})
	for _, tc := range []struct {
		platform apierror.Platform
		resource string
	}{
		{"TikTok", "publish"}, {"", "publish"}, {apierror.PlatformMeta, ""},
		{apierror.PlatformMeta, "has space"}, {apierror.PlatformMeta, "ctl\x00"},
		{apierror.PlatformMeta, string(make([]byte, upstream.MaxResourceLength+1))},
	} {
		_, err := b.Circuit(tc.platform, tc.resource)
		assert.Error(t, err, "%q %q", tc.platform, tc.resource)
	}
	assert.Equal(t, "closed", upstream.Closed.String())
	assert.Equal(t, "open", upstream.Open.String())
	assert.Equal(t, "half-open", upstream.HalfOpen.String())
	assert.Equal(t, "State(9)", upstream.State(9).String())
	assert.Equal(t, "busy", upstream.ProbeBusy.String())
	var zero upstream.Permit
	zero.Done(upstream.Failed) // the zero Permit ignores Done
}
