package idempotency_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/idempotency"
)

// TestContextHookOnly: a Guard without Config.Events still reports every
// outcome to the hook the request's context carries (event.NewContext), as
// every other errkit component does.
func TestContextHookOnly(t *testing.T) {
	var events eventLog
	store := newMemory(t, 0)
	cr := &creator{}
	inner := newHandler(t, newGuard(t, idempotency.Config{Store: store}), cr.handle, (&testLogs{}).logger())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(event.NewContext(r.Context(), events.hook)))
	}))
	t.Cleanup(srv.Close)

	skey := idempotency.StoreKey("key_A", http.MethodPost, contentRoute, "held")
	fp := idempotency.Fingerprint(http.MethodPost, contentRoute, []idempotency.Param{{Name: "projectId", Value: "prj_1"}}, "", []byte(`{"b":1}`))
	_, err := store.Acquire(context.Background(), skey, "other", fp, time.Minute)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		call   call
		status int
		want   event.Outcome
	}{
		{"first", call{keyID: "key_A", keys: []string{"k1"}, body: `{"a":1}`}, http.StatusCreated, event.OutcomeStored},
		{"retry", call{keyID: "key_A", keys: []string{"k1"}, body: `{"a":1}`}, http.StatusCreated, event.OutcomeReplayed},
		{"other body", call{keyID: "key_A", keys: []string{"k1"}, body: `{"a":2}`}, http.StatusConflict, event.OutcomeConflict},
		{"lease held", call{keyID: "key_A", keys: []string{"held"}, body: `{"b":1}`}, http.StatusConflict, event.OutcomeInUse},
	} {
		before := len(events.outcomes(event.KindIdempotency))
		r := mustDo(t, srv, tc.call)
		require.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		got := events.outcomes(event.KindIdempotency)
		require.Len(t, got, before+1, tc.name)
		assert.Equal(t, tc.want, got[before], tc.name)
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	for _, e := range events.got {
		if e.Kind != event.KindIdempotency {
			continue // the error writer reports its own
		}
		assert.Equal(t, http.MethodPost, e.Method)
		assert.Equal(t, contentRoute, e.Route)
		assert.Equal(t, event.ComponentIdempotency, e.Component)
	}
	assert.Equal(t, int64(1), cr.calls.Load())
}
