package killswitch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
)

// TestEvents checks the guard's KindKillSwitch: one per refused request,
// with the scope of the switch that refused it, and none for a request let
// through or skipped.
func TestEvents(t *testing.T) {
	tests := []struct {
		name   string
		on     []killswitch.Switch
		method string
		skip   bool
		want   []event.Event
	}{
		{name: "let through", method: http.MethodGet},
		{name: "key", on: []killswitch.Switch{{Scope: apierror.ScopeKey, ID: "key_1"}}, method: http.MethodGet,
			want: []event.Event{{Kind: event.KindKillSwitch, Method: "GET", Scope: apierror.ScopeKey}}},
		{name: "organization, any method", on: []killswitch.Switch{{Scope: apierror.ScopeOrganization, ID: "org_1"}}, method: "PURGE",
			want: []event.Event{{Kind: event.KindKillSwitch, Method: event.MethodOther, Scope: apierror.ScopeOrganization}}},
		{name: "the broadest scope", on: []killswitch.Switch{{Scope: apierror.ScopeKey, ID: "key_1"}, {Scope: apierror.ScopeGlobal}}, method: http.MethodPost,
			want: []event.Event{{Kind: event.KindKillSwitch, Method: "POST", Scope: apierror.ScopeGlobal}}},
		{name: "skipped", on: []killswitch.Switch{{Scope: apierror.ScopeGlobal}}, method: http.MethodGet, skip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
			require.NoError(t, err)
			for _, s := range tt.on {
				s.Reason, s.By = "test", "test"
				require.NoError(t, store.On(context.Background(), s))
			}
			var got []event.Event
			g, err := killswitch.New(killswitch.Config{Checker: store, Skip: func(*http.Request) bool { return tt.skip },
				Events: func(_ context.Context, e event.Event) { got = append(got, e) }})
			require.NoError(t, err)
			r := principal.Set(httptest.NewRequest(tt.method, "/v1/x", nil), principal.Principal{KeyID: "key_1", OrganizationID: "org_1"})
			err = g.Check(http.Header{}, r)
			assert.Equal(t, tt.want != nil, err != nil)
			assert.Equal(t, tt.want, got)
		})
	}
}
