package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/event"
)

// TestEvents checks the limiter's KindRateLimit: one per decided request,
// allowed, denied or failed with the policy applied, and none for the
// requests it does not limit; OnStoreError still sees every failure.
func TestEvents(t *testing.T) {
	cause := errors.New("redis: i/o timeout")
	key := func(r *http.Request) string { return r.Header.Get("X-Key") }
	tests := []struct {
		name       string
		cfg        Config
		key        string
		requests   int
		want       []event.Event
		storeCalls int // OnStoreError calls
	}{
		{name: "allowed then denied", cfg: Config{Classes: map[string]Rate{ClassRead: {PerSecond: 0.001, Burst: 2}}}, key: "k1", requests: 3,
			want: []event.Event{
				{Kind: event.KindRateLimit, Method: "GET", Route: thingsRoute, Class: ClassRead, Outcome: event.OutcomeAllowed},
				{Kind: event.KindRateLimit, Method: "GET", Route: thingsRoute, Class: ClassRead, Outcome: event.OutcomeAllowed},
				{Kind: event.KindRateLimit, Method: "GET", Route: thingsRoute, Class: ClassRead, Outcome: event.OutcomeDenied},
			}},
		{name: "unauthenticated: not decided", cfg: Config{}, key: "", requests: 2},
		{name: "not classed: not decided", cfg: Config{ClassFunc: func(*http.Request) string { return "" }}, key: "k1", requests: 1},
		{name: "store failure, fail-open", cfg: Config{Store: failingStore{err: cause}}, key: "k1", requests: 1, storeCalls: 1,
			want: []event.Event{{Kind: event.KindRateLimit, Method: "GET", Route: thingsRoute, Class: ClassRead, Outcome: event.OutcomeFailed,
				Component: event.ComponentRateLimit, Policy: event.PolicyFailOpen, Err: cause}}},
		{name: "store failure, fail-closed", cfg: Config{Store: failingStore{err: cause}, FailClosed: true}, key: "k1", requests: 1, storeCalls: 1,
			want: []event.Event{{Kind: event.KindRateLimit, Method: "GET", Route: thingsRoute, Class: ClassRead, Outcome: event.OutcomeFailed,
				Component: event.ComponentRateLimit, Policy: event.PolicyFailClosed, Err: cause}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []event.Event
			var storeCalls int
			cfg := tt.cfg
			cfg.KeyFunc = key
			cfg.Events = func(_ context.Context, e event.Event) { got = append(got, e) }
			cfg.OnStoreError = func(*http.Request, error) { storeCalls++ }
			l, err := New(cfg)
			require.NoError(t, err)
			for range tt.requests {
				r := httptest.NewRequest(http.MethodGet, "/v1/things/1", nil)
				r.Header.Set("X-Key", tt.key)
				_ = l.Limit(http.Header{}, r, thingsRoute)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.storeCalls, storeCalls)
		})
	}
}

// TestEventsUnknownClass checks that a class missing from Classes is a
// failed decision reported without the class name.
func TestEventsUnknownClass(t *testing.T) {
	var got []event.Event
	l, err := New(Config{KeyFunc: func(*http.Request) string { return "k" }, ClassFunc: func(*http.Request) string { return "bogus" },
		Events: func(_ context.Context, e event.Event) { got = append(got, e) }})
	require.NoError(t, err)
	require.NoError(t, l.Limit(http.Header{}, httptest.NewRequest(http.MethodPost, "/x", nil), "/x"))
	require.Len(t, got, 1)
	assert.Equal(t, event.OutcomeFailed, got[0].Outcome)
	assert.Empty(t, got[0].Class)
	assert.Equal(t, event.PolicyFailOpen, got[0].Policy)
	require.Error(t, got[0].Err)
}

// TestAllowedWithoutHookAllocatesNothingMore checks that a limiter without
// a Hook pays nothing for events on the success path.
func TestAllowedWithoutHookAllocatesNothingMore(t *testing.T) {
	count := func(events event.Hook) float64 {
		l, err := New(Config{KeyFunc: func(*http.Request) string { return "k" }, Events: events,
			Classes: map[string]Rate{ClassRead: {PerSecond: 1e9, Burst: 1e9}}})
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		h := http.Header{}
		return testing.AllocsPerRun(100, func() { _ = l.Limit(h, r, "/x") })
	}
	assert.Equal(t, count(nil), count(func(context.Context, event.Event) {}), "a Hook adds no allocation")
}
