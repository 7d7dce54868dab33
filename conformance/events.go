package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/requestid"
)

// UnknownPaths is the number of distinct unknown paths the events scenario
// sends: however many there are, their error events name one route.
const UnknownPaths = 10_000

// recorder keeps every event, by the request ID of its context.
type recorder struct {
	mu   sync.Mutex
	byID map[string][]event.Event
}

func (rec *recorder) hook(ctx context.Context, e event.Event) {
	id := requestid.FromContext(ctx)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.byID[id] = append(rec.byID[id], e)
}

// of returns the events of the request id, by kind.
func (rec *recorder) of(id string) map[event.Kind][]event.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := map[event.Kind][]event.Event{}
	for _, e := range rec.byID[id] {
		out[e.Kind] = append(out[e.Kind], e)
	}
	return out
}

// startObserved is start with rec's Hook in every request's context
// (event.NewContext), so that the adapter's error writer, the limiter and
// the guards, whatever their Config, report every event to it.
func startObserved(t *testing.T, newServer NewServer, rec *recorder) *server {
	t.Helper()
	logs := &syncBuffer{}
	fx := newFixtures(t, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h := newServer(t, fx)
	require.NotNil(t, h, "NewServer returned no handler")
	require.NotNil(t, fx.Template, "NewServer set no Fixtures.Template")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(event.NewContext(r.Context(), rec.hook)))
	}))
	t.Cleanup(ts.Close)
	return &server{url: ts.URL, fx: fx, logs: logs}
}

// routeOf returns the route of the suite with method and path.
func (f *Fixtures) routeOf(t *testing.T, method, path string) Route {
	t.Helper()
	for _, rt := range f.Routes() {
		if rt.Method == method && rt.Path == path {
			return rt
		}
	}
	t.Fatalf("no route %s %s", method, path)
	return Route{}
}

// eventsScenario checks what the adapter fires: one event.KindRequest per
// request; exactly one event.KindError per error response, with its code,
// status, category, method and the route template the adapter's router
// reports, and none for a success; the limiter's and the kill switch's
// events; methods outside the standard set as event.MethodOther; and one
// route value for UnknownPaths distinct unknown paths, so that no metric
// keyed by route grows with the paths clients make up.
func eventsScenario(t *testing.T, newServer NewServer) {
	rec := &recorder{byID: map[string][]event.Event{}}
	s := startObserved(t, newServer, rec)
	f := s.fx
	auth := func(key string) []string { return []string{"Authorization", "Bearer " + key + ":org_events"} }
	f.flip(t, killswitch.Switch{Scope: apierror.ScopeKey, ID: "key_ev_off"})

	type wantError struct {
		code   apierror.Code
		method string
		route  string // the template; "?" for the router's own answers, checked below
	}
	tests := []struct {
		name, method, path string
		hdr                []string
		status             int
		err                *wantError    // nil: a success, no KindError
		limit              event.Outcome // the KindRateLimit outcome, "" for none
		switched           bool          // a KindKillSwitch of scope key
	}{
		{name: "success", method: http.MethodGet, path: "/ok", status: 200},
		{name: "an error", method: http.MethodGet, path: "/codes/NOT_FOUND", status: 404,
			err: &wantError{apierror.CodeNotFound, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/codes/{code}"))}},
		{name: "HEAD", method: http.MethodHead, path: "/codes/VALIDATION", status: 422,
			err: &wantError{apierror.CodeValidation, http.MethodHead, f.Template(f.routeOf(t, http.MethodHead, "/codes/{code}"))}},
		{name: "INTERNAL", method: http.MethodGet, path: "/internal", status: 500,
			err: &wantError{apierror.CodeInternal, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/internal"))}},
		{name: "panic", method: http.MethodGet, path: "/panic", status: 500,
			err: &wantError{apierror.CodeInternal, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/panic"))}},
		{name: "refused before the limiter", method: http.MethodGet, path: "/limited", status: 401,
			err: &wantError{apierror.CodeUnauthenticated, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/limited"))}},
		{name: "admitted", method: http.MethodGet, path: "/limited", hdr: auth("key_ev"), status: 200, limit: event.OutcomeAllowed},
		{name: "admitted again", method: http.MethodGet, path: "/limited", hdr: auth("key_ev"), status: 200, limit: event.OutcomeAllowed},
		{name: "limited", method: http.MethodGet, path: "/limited", hdr: auth("key_ev"), status: 429, limit: event.OutcomeDenied,
			err: &wantError{apierror.CodeRateLimited, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/limited"))}},
		{name: "switched off", method: http.MethodGet, path: "/switched", hdr: auth("key_ev_off"), status: 503, switched: true,
			err: &wantError{apierror.CodeKillSwitch, http.MethodGet, f.Template(f.routeOf(t, http.MethodGet, "/switched"))}},
		{name: "router 404", method: http.MethodGet, path: "/nowhere", status: 404, err: &wantError{apierror.CodeNotFound, http.MethodGet, "?"}},
		{name: "other method", method: "PURGE", path: "/nowhere", status: 404, err: &wantError{apierror.CodeNotFound, event.MethodOther, "?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, nil, tt.hdr...)
			require.Equal(t, tt.status, r.status)
			evs := rec.of(requireID(t, r))
			require.Len(t, evs[event.KindRequest], 1, "one KindRequest per request")
			assert.Equal(t, event.StandardMethod(tt.method), evs[event.KindRequest][0].Method)
			if tt.err == nil {
				assert.Empty(t, evs[event.KindError], "a success fires no KindError")
			} else {
				require.Len(t, evs[event.KindError], 1, "exactly one KindError per error response")
				e := evs[event.KindError][0]
				spec, ok := apierror.Lookup(tt.err.code)
				require.True(t, ok)
				assert.Equal(t, tt.err.code, e.Code)
				assert.Equal(t, spec.Status, e.Status)
				assert.Equal(t, spec.Category, e.Category)
				assert.Equal(t, tt.err.method, e.Method)
				if tt.err.route != "?" {
					assert.Equal(t, tt.err.route, e.Route, "the route template")
				}
				assert.NotContains(t, e.Route, "nowhere", "never the raw path")
				require.Error(t, e.Err, "the error itself, for logs")
				if tt.name == "panic" {
					var pe *httperror.PanicError
					assert.True(t, errors.As(e.Err, &pe), "a panic's event carries the *httperror.PanicError")
				}
			}
			if tt.limit == "" {
				assert.Empty(t, evs[event.KindRateLimit])
			} else {
				require.Len(t, evs[event.KindRateLimit], 1, "one decision")
				d := evs[event.KindRateLimit][0]
				assert.Equal(t, tt.limit, d.Outcome)
				assert.Equal(t, "read", d.Class)
				assert.Equal(t, f.Template(f.routeOf(t, http.MethodGet, "/limited")), d.Route)
			}
			if tt.switched {
				require.Len(t, evs[event.KindKillSwitch], 1)
				assert.Equal(t, apierror.ScopeKey, evs[event.KindKillSwitch][0].Scope)
			} else {
				assert.Empty(t, evs[event.KindKillSwitch])
			}
		})
	}

	t.Run("unknown paths", func(t *testing.T) {
		const workers = 4
		ids := make([]string, UnknownPaths)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < UnknownPaths; i += workers {
					path := fmt.Sprintf("/unknown-%d/x%d", i, i*7919)
					r, err := s.send(http.MethodGet, path, nil)
					if err == nil && r.status != http.StatusNotFound {
						err = fmt.Errorf("GET %s: status %d", path, r.status)
					}
					if err != nil {
						errs <- err
						return
					}
					ids[i] = r.header.Get(requestid.Header)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		routes := map[string]int{}
		for _, id := range ids {
			evs := rec.of(id)[event.KindError]
			require.Len(t, evs, 1, "one KindError for %s", id)
			routes[evs[0].Route]++
		}
		require.Len(t, routes, 1, "%d distinct unknown paths report one route value: %v", UnknownPaths, routes)
		for route := range routes {
			assert.False(t, strings.Contains(route, "unknown"), "the route %q is not a raw path", route)
		}
	})
}
