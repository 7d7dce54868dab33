package idempotency_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// eventLog records events; safe for concurrent use.
type eventLog struct {
	mu  sync.Mutex
	got []event.Event
}

func (l *eventLog) hook(_ context.Context, e event.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, e)
}

// outcomes returns the outcomes of the events of kind k.
func (l *eventLog) outcomes(k event.Kind) []event.Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []event.Outcome
	for _, e := range l.got {
		if e.Kind == k {
			out = append(out, e.Outcome)
		}
	}
	return out
}

// commandCalls returns how many times Redis ran cmd (lower case) since
// the last CONFIG RESETSTAT.
func commandCalls(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// TestNoOrphanLeaseAfterStall is the incident: Redis stalls (a real
// redis-server stopped with SIGSTOP) while a request's Acquire is on its
// way; the request answers INTERNAL after StoreTimeout and its client
// retries with the same key, as the contract says. Redis resumes and runs
// the queued acquisition, which must not take a lease for the request
// that gave up: the retry runs the work (once), never "in use". Both
// safeguards run here (the deadline fence and the background release);
// idempotency/redisstore tests each on its own (TestFenceOnly,
// TestReleaseOnly, TestReleaseAfterLostReply).
func TestNoOrphanLeaseAfterStall(t *testing.T) {
	inst := redistest.Private(t)
	admin := inst.Client(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	var events eventLog
	cr := &creator{}
	srv, _ := newServer(t, idempotency.Config{Store: newRedis(t, client, inst.Prefix(t)),
		StoreTimeout: 200 * time.Millisecond, Events: events.hook}, cr.handle)
	// A first request loads the scripts and teaches the store Redis's
	// clock.
	warm := mustDo(t, srv, call{keyID: "key_A", keys: []string{"warm-up"}, body: `{}`})
	require.Equal(t, http.StatusCreated, warm.status)
	require.NoError(t, admin.ConfigResetStat(context.Background()).Err())

	req := call{keyID: "key_A", keys: []string{"stalled"}, body: `{"n":1}`}
	inst.Pause(t)
	r := mustDo(t, srv, req)
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.Equal(t, envelope(r, "INTERNAL", apierror.InternalMessage, ""), r.body)
	inst.Resume(t)
	require.Eventually(t, func() bool { return commandCalls(t, admin, "evalsha") >= 1 }, 5*time.Second, 5*time.Millisecond,
		"Redis ran the queued acquisition")

	retry := mustDo(t, srv, req)
	assert.Equal(t, http.StatusCreated, retry.status, retry.body)
	assert.Empty(t, retry.header.Values(idempotency.HeaderReplayed))
	again := mustDo(t, srv, req)
	assert.Equal(t, http.StatusCreated, again.status)
	assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
	assert.Equal(t, retry.body, again.body)
	assert.Equal(t, int64(2), cr.calls.Load(), "the warm-up and the retry ran, nothing else")
	assert.Equal(t, []event.Outcome{event.OutcomeStored, event.OutcomeFailed, event.OutcomeStored, event.OutcomeReplayed},
		events.outcomes(event.KindIdempotency))
}

// TestReleaseRetriedInBackground: a lease whose Release failed (here: the
// caller's context ended before the command went out) is released by token
// in the background once Redis answers, so the key does not stay "in use"
// for its lease TTL.
func TestReleaseRetriedInBackground(t *testing.T) {
	inst := redistest.Server(t)
	s := newRedis(t, inst.Client(t), inst.Prefix(t))
	ctx := context.Background()
	lk, err := s.Acquire(ctx, "k", "owner", "sha256:f", time.Hour)
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, lk.State)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, s.Release(gone, "k", "owner"))
	require.Eventually(t, func() bool {
		lk, err := s.Acquire(ctx, "k", "retry", "sha256:f", time.Hour)
		return err == nil && lk.State == idempotency.Acquired
	}, 5*time.Second, 10*time.Millisecond)
}

// TestFailFast stalls Redis under a Guard: the first requests wait out
// StoreTimeout, the following ones answer INTERNAL at once, and requests
// run again once Redis is back.
func TestFailFast(t *testing.T) {
	inst := redistest.Private(t)
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	const timeout = 200 * time.Millisecond
	cr := &creator{}
	srv, _ := newServer(t, idempotency.Config{Store: newRedis(t, client, inst.Prefix(t)), StoreTimeout: timeout}, cr.handle)
	require.Equal(t, http.StatusCreated, mustDo(t, srv, call{keyID: "key_A", keys: []string{"warm"}, body: `{}`}).status)

	inst.Pause(t)
	for i := range 3 {
		start := time.Now()
		r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"slow-" + strconv.Itoa(i)}, body: `{}`})
		assert.Equal(t, http.StatusInternalServerError, r.status)
		assert.GreaterOrEqual(t, time.Since(start), timeout-10*time.Millisecond)
	}
	for i := range 10 {
		start := time.Now()
		r := mustDo(t, srv, call{keyID: "key_A", keys: []string{"fast-" + strconv.Itoa(i)}, body: `{}`})
		assert.Equal(t, http.StatusInternalServerError, r.status)
		assert.Less(t, time.Since(start), timeout/2, "request %d fails fast", i)
	}
	assert.Equal(t, int64(1), cr.calls.Load())
	inst.Resume(t)
	require.Eventually(t, func() bool {
		r, err := do(srv, call{keyID: "key_A", keys: []string{"after"}, body: `{}`})
		return err == nil && r.status == http.StatusCreated
	}, 5*time.Second, 20*time.Millisecond)
}

// TestEvents: every keyed request the Guard finishes is one
// KindIdempotency event with its outcome, method and route.
func TestEvents(t *testing.T) {
	var events eventLog
	store := newMemory(t, 0)
	var failing atomic.Bool // the race detector sees no ordering through the socket
	cr := &creator{}
	h := func(w http.ResponseWriter, r *http.Request) error {
		if failing.Load() {
			return apierror.Internal(errors.New("handler failed"))
		}
		return cr.handle(w, r)
	}
	srv, _ := newServer(t, idempotency.Config{Store: store, Events: events.hook}, h)
	req := call{keyID: "key_A", keys: []string{"k1"}, body: `{"a":1}`}
	require.Equal(t, http.StatusCreated, mustDo(t, srv, req).status)
	require.Equal(t, http.StatusCreated, mustDo(t, srv, req).status) // replayed
	require.Equal(t, http.StatusConflict, mustDo(t, srv, call{keyID: "key_A", keys: []string{"k1"}, body: `{"a":2}`}).status)
	// A lease held by a running request: in use for the same body, a
	// conflict for another.
	skey := idempotency.StoreKey("key_A", http.MethodPost, contentRoute, "k2")
	fp := idempotency.Fingerprint(http.MethodPost, contentRoute, []idempotency.Param{{Name: "projectId", Value: "prj_1"}}, "", []byte(`{"b":1}`))
	_, err := store.Acquire(context.Background(), skey, "other", fp, time.Minute)
	require.NoError(t, err)
	require.Equal(t, http.StatusConflict, mustDo(t, srv, call{keyID: "key_A", keys: []string{"k2"}, body: `{"b":1}`}).status)
	require.Equal(t, http.StatusConflict, mustDo(t, srv, call{keyID: "key_A", keys: []string{"k2"}, body: `{"b":2}`}).status)
	require.NoError(t, store.Release(context.Background(), skey, "other"))
	failing.Store(true)
	require.Equal(t, http.StatusInternalServerError, mustDo(t, srv, call{keyID: "key_A", keys: []string{"k3"}, body: `{}`}).status)
	require.Equal(t, http.StatusInternalServerError, mustDo(t, srv, call{keys: []string{"k4"}, body: `{}`}).status) // no caller
	require.Equal(t, http.StatusUnprocessableEntity, mustDo(t, srv, call{keyID: "key_A", keys: []string{""}, body: `{}`}).status)

	assert.Equal(t, []event.Outcome{event.OutcomeStored, event.OutcomeReplayed, event.OutcomeConflict,
		event.OutcomeInUse, event.OutcomeConflict, event.OutcomeReleased, event.OutcomeFailed},
		events.outcomes(event.KindIdempotency), "nothing for a malformed key")
	events.mu.Lock()
	defer events.mu.Unlock()
	for _, e := range events.got {
		assert.Equal(t, http.MethodPost, e.Method)
		assert.Equal(t, contentRoute, e.Route)
		assert.Equal(t, event.ComponentIdempotency, e.Component)
		if e.Outcome == event.OutcomeFailed {
			assert.Error(t, e.Err)
			assert.Equal(t, event.PolicyFailClosed, e.Policy)
		} else {
			assert.NoError(t, e.Err)
		}
	}
}
