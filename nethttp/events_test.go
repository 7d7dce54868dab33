package nethttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/nethttp"
)

// recorded is what a Hook received, safe for the server's goroutines.
type recorded struct {
	mu sync.Mutex
	ev []event.Event
}

func (r *recorded) hook(_ context.Context, e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Err = nil // compared without the error
	r.ev = append(r.ev, e)
}

func (r *recorded) take() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ev
	r.ev = nil
	return out
}

// TestInstallEvents checks Config.Events: a KindRequest per request and
// the writer's KindError, with ServeMux's pattern as the route and "" for
// ServeMux's own 404 and 405; ErrorHandler.Events, when set, takes the
// errors instead.
func TestInstallEvents(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /things/{id}", nethttp.Handler(func(w http.ResponseWriter, r *http.Request) error {
		if r.PathValue("id") == "missing" {
			return apierror.NotFound()
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	mux.Handle("GET /panic", nethttp.Handler(func(http.ResponseWriter, *http.Request) error { panic("boom") }))
	all, errs := &recorded{}, &recorded{}
	h, err := nethttp.Install(mux, nethttp.Config{Events: all.hook})
	require.NoError(t, err)
	own, err := nethttp.Install(mux, nethttp.Config{Events: all.hook, ErrorHandler: httperror.Config{Events: errs.hook}})
	require.NoError(t, err)
	ts, ownTS := httptest.NewServer(h), httptest.NewServer(own)
	t.Cleanup(ts.Close)
	t.Cleanup(ownTS.Close)

	request := event.Event{Kind: event.KindRequest, Method: "GET"}
	errorOf := func(code apierror.Code, method, route string) event.Event {
		spec, _ := apierror.Lookup(code)
		return event.Event{Kind: event.KindError, Code: code, Status: spec.Status, Category: spec.Category, Method: method, Route: route}
	}
	tests := []struct {
		name, method, path string
		want               []event.Event
	}{
		{name: "success", method: "GET", path: "/things/1", want: []event.Event{request}},
		{name: "handler error", method: "GET", path: "/things/missing",
			want: []event.Event{request, errorOf(apierror.CodeNotFound, "GET", "GET /things/{id}")}},
		{name: "panic", method: "GET", path: "/panic", want: []event.Event{request, errorOf(apierror.CodeInternal, "GET", "GET /panic")}},
		{name: "router 404", method: "GET", path: "/nowhere/1", want: []event.Event{request, errorOf(apierror.CodeNotFound, "GET", "")}},
		{name: "router 405", method: "PUT", path: "/things/1",
			want: []event.Event{{Kind: event.KindRequest, Method: "PUT"}, errorOf(apierror.CodeNotFound, "PUT", "")}},
		{name: "other method", method: "PURGE", path: "/things/1",
			want: []event.Event{{Kind: event.KindRequest, Method: event.MethodOther}, errorOf(apierror.CodeNotFound, event.MethodOther, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, url := range []string{ts.URL, ownTS.URL} {
				req, err := http.NewRequest(tt.method, url+tt.path, nil)
				require.NoError(t, err)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
			}
			// First server: everything to Events. Second: the errors to
			// ErrorHandler.Events, the requests to Events.
			got := all.take()
			var first, second []event.Event
			for i, e := range got {
				if i < len(tt.want) {
					first = append(first, e)
				} else {
					second = append(second, e)
				}
			}
			assert.Equal(t, tt.want, first)
			assert.Equal(t, tt.want[:1], second)
			assert.Equal(t, tt.want[1:], nonNil(errs.take()))
		})
	}
}

// nonNil returns evs, or an empty slice for none.
func nonNil(evs []event.Event) []event.Event {
	if evs == nil {
		return []event.Event{}
	}
	return evs
}
