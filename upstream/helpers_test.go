package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
)

// t0 is where every fake clock starts.
var t0 = time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var discard = slog.New(slog.DiscardHandler)

// logBuffer captures JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

func (l *logBuffer) matching(t *testing.T, snippet string) []map[string]any {
	var out []map[string]any
	for _, m := range l.lines(t) {
		if s, _ := m["msg"].(string); strings.Contains(s, snippet) {
			out = append(out, m)
		}
	}
	return out
}

// countingStore wraps a Store and counts its calls.
type countingStore struct {
	upstream.Store
	trips, resets, probes, releases atomic.Int64
}

func (s *countingStore) Trip(ctx context.Context, key string, now, until time.Time) error {
	s.trips.Add(1)
	return s.Store.Trip(ctx, key, now, until)
}

func (s *countingStore) Reset(ctx context.Context, key string) error {
	s.resets.Add(1)
	return s.Store.Reset(ctx, key)
}

func (s *countingStore) Probe(ctx context.Context, key string, now time.Time, lease time.Duration) (upstream.Probe, error) {
	s.probes.Add(1)
	return s.Store.Probe(ctx, key, now, lease)
}

func (s *countingStore) Release(ctx context.Context, key, token string) error {
	s.releases.Add(1)
	return s.Store.Release(ctx, key, token)
}

func (s *countingStore) total() int64 {
	return s.trips.Load() + s.resets.Load() + s.probes.Load() + s.releases.Load()
}

// downStore is a Store whose every call fails, as an unreachable Redis.
type downStore struct{ calls atomic.Int64 }

var errDown = errors.New("store unreachable")

func (s *downStore) Trip(context.Context, string, time.Time, time.Time) error {
	s.calls.Add(1)
	return errDown
}
func (s *downStore) Reset(context.Context, string) error { s.calls.Add(1); return errDown }
func (s *downStore) Probe(context.Context, string, time.Time, time.Duration) (upstream.Probe, error) {
	s.calls.Add(1)
	return upstream.Probe{}, errDown
}
func (s *downStore) Release(context.Context, string, string) error { s.calls.Add(1); return errDown }
func (s *downStore) Watch(func(string, time.Time)) func()          { return func() {} }

// circuitOpen asserts err is CIRCUIT_OPEN for resource with
// retryAfterSeconds want, and returns its rendered envelope.
func circuitOpen(t *testing.T, err error, resource string, want int64) {
	t.Helper()
	require.Error(t, err)
	require.True(t, apierror.HasCode(err, apierror.CodeCircuitOpen), "got %v", err)
	d, ok := apierror.DetailsAs[apierror.CircuitOpenDetails](err)
	require.True(t, ok)
	require.Equal(t, resource, d.Resource)
	require.Equal(t, want, d.RetryAfterSeconds, "retryAfterSeconds")
}

// newBreaker builds a Breaker that is closed at the end of the test.
func newBreaker(t *testing.T, cfg upstream.BreakerConfig) *upstream.Breaker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	b, err := upstream.NewBreaker(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func mustCircuit(t *testing.T, b *upstream.Breaker, p apierror.Platform, resource string) *upstream.Circuit {
	t.Helper()
	c, err := b.Circuit(p, resource)
	require.NoError(t, err)
	return c
}

// fail makes n permitted calls that fail.
func fail(t *testing.T, c *upstream.Circuit, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p, err := c.Allow(context.Background())
		require.NoError(t, err, "call %d", i+1)
		p.Done(upstream.Failed)
	}
}
