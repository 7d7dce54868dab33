package httperror_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/httperror"
)

// events records what a Hook receives.
type events []event.Event

func (ev *events) hook(_ context.Context, e event.Event) { *ev = append(*ev, e) }

// TestEvents checks the writer's KindError: once per request that ends in
// an error, with code, status, category, route, method and the error,
// committed or not, and never for the same error handed over again or a
// later error of a request already answered.
func TestEvents(t *testing.T) {
	cause := errors.New("db: connection refused")
	tests := []struct {
		name   string
		method string
		errs   []error // handed to the writer in order, for one request
		meta   httperror.Meta
		stamp  bool
		want   []event.Event // Err compared by identity with errs[i]
	}{
		{name: "an error", method: http.MethodGet, errs: []error{apierror.NotFound()}, meta: httperror.Meta{Route: "/v1/x/{id}"}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Category: apierror.CategoryCallerBug, Route: "/v1/x/{id}", Method: "GET"}}},
		{name: "a plain error is INTERNAL", method: http.MethodPost, errs: []error{cause}, meta: httperror.Meta{Route: "/v1/y"}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeInternal, Status: 500, Category: apierror.CategoryTransient, Route: "/v1/y", Method: "POST"}}},
		{name: "committed", method: http.MethodGet, errs: []error{cause}, meta: httperror.Meta{Route: "/v1/y", Committed: true}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeInternal, Status: 500, Category: apierror.CategoryTransient, Route: "/v1/y", Method: "GET"}}},
		{name: "other method", method: "PURGE", errs: []error{apierror.NotFound()}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Category: apierror.CategoryCallerBug, Method: event.MethodOther}}},
		{name: "the same error twice", method: http.MethodGet, errs: []error{cause, cause}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeInternal, Status: 500, Category: apierror.CategoryTransient, Method: "GET"}}},
		{name: "a second error", method: http.MethodGet, errs: []error{apierror.NotFound(), cause}, stamp: true,
			want: []event.Event{{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Category: apierror.CategoryCallerBug, Method: "GET"}}},
		{name: "unstamped requests are each their own", method: http.MethodGet, errs: []error{cause, cause},
			want: []event.Event{
				{Kind: event.KindError, Code: apierror.CodeInternal, Status: 500, Category: apierror.CategoryTransient, Method: "GET"},
				{Kind: event.KindError, Code: apierror.CodeInternal, Status: 500, Category: apierror.CategoryTransient, Method: "GET"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgEvents, ctxEvents events
			w, _ := newWriter(t, httperror.Config{Events: cfgEvents.hook})
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "/raw/path/123", nil)
			r = r.WithContext(event.NewContext(r.Context(), ctxEvents.hook))
			if tt.stamp {
				r = stamped(rec, r)
			}
			for _, err := range tt.errs {
				w.WriteMeta(rec, r, err, tt.meta)
			}
			require.Len(t, cfgEvents, len(tt.want))
			for i := range cfgEvents {
				require.NotNil(t, cfgEvents[i].Err)
				assert.Same(t, tt.errs[i], cfgEvents[i].Err, "the error as handed over")
				cfgEvents[i].Err = nil
			}
			assert.Equal(t, tt.want, []event.Event(cfgEvents))
			assert.Len(t, ctxEvents, len(tt.want), "the context's Hook gets the same events")
		})
	}
}

// TestEventsWithoutHook checks that a writer without a Hook renders as
// before and allocates nothing for events.
func TestEventsWithoutHook(t *testing.T) {
	w, _ := newWriter(t, httperror.Config{})
	rec := httptest.NewRecorder()
	w.Write(rec, stamped(rec, httptest.NewRequest(http.MethodGet, "/", nil)), apierror.NotFound())
	requireEnvelope(t, rec, 404, apierror.CodeNotFound)
}
