package whoami

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestBaselines: every baseline answers whoami with the JSON partnerapi
// sends, and refuses a missing or unknown key, over a real listener; only
// the chains stamp a request ID; errkit's answers a refusal with the envelope.
func TestBaselines(t *testing.T) {
	require.ElementsMatch(t, []string{"echo4", "echo4-chain", "echo4-errkit", "echo5", "echo5-chain", "echo5-errkit", "nethttp"}, slices.Collect(maps.Keys(servers)))
	for name, newHandler := range servers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(newHandler(io.Discard))
			t.Cleanup(srv.Close)
			for _, tt := range []struct {
				header string
				status int
				body   string
			}{
				{"Bearer lp_demo_full", 200, `{"keyId":"key_full","organizationId":"org_demo","scopes":["content:read","content:write","jobs:read"]}` + "\n"},
				{"bearer lp_demo_readonly", 200, `{"keyId":"key_readonly","organizationId":"org_demo","scopes":["content:read","jobs:read"]}` + "\n"},
				{"", 401, ""},
				{"Bearer lp_nope", 401, ""},
				{"Bearer lp_demo_full extra", 401, ""},
			} {
				req, err := http.NewRequest("GET", srv.URL+"/v1/whoami", nil)
				require.NoError(t, err)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, tt.status, resp.StatusCode, "%q", tt.header)
				// A chain runs a RequestID (echo's own or errkit's) in front of everything.
				chain := strings.HasSuffix(name, "-chain") || strings.HasSuffix(name, "-errkit")
				require.Equal(t, chain, resp.Header.Get("X-Request-Id") != "", "X-Request-Id on %s", name)
				if tt.status == 200 {
					require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
					require.Equal(t, tt.body, string(b))
				}
				if tt.status == 401 && strings.HasSuffix(name, "-errkit") {
					require.Contains(t, string(b), `{"error":{"code":"UNAUTHENTICATED",`)
				}
			}
		})
	}
}

func TestHandlerUnknown(t *testing.T) {
	h, err := Handler("gin", io.Discard)
	require.Nil(t, h)
	require.EqualError(t, err, "whoami: no baseline \"gin\": want one of "+strings.Join(Names(), ", "))
}
