package redisstore

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/internal/redistest"
	"github.com/layershq/errkit/killswitch"
)

// TestAdminControllerFailure serves the operator API over a Store whose
// Redis is down: the operator gets INTERNAL with the fixed message, never
// Redis's error.
func TestAdminControllerFailure(t *testing.T) {
	inst := redistest.Private(t)
	r := newStore(t, newClientNoRetry(t, inst), Config{Prefix: inst.Prefix(t), Logger: discard, Timeout: 300 * time.Millisecond})
	inst.Stop(t)
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: r,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer op-alice" {
				return "", errors.New("no operator credentials")
			}
			return "alice", nil
		},
	})
	require.NoError(t, err)
	errs, err := httperror.New(httperror.Config{Logger: discard})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errs.Write(w, r, admin.Serve(w, r))
	}))
	t.Cleanup(srv.Close)
	for _, st := range []struct{ method, path string }{{"GET", "/"}, {"PUT", "/global"}, {"DELETE", "/key/k1"}} {
		req, err := http.NewRequest(st.method, srv.URL+st.path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer op-alice")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		id := res.Header.Get("X-Request-Id")
		assert.Equal(t, http.StatusInternalServerError, res.StatusCode, st.method+" "+st.path)
		assert.Equal(t, `{"error":{"code":"INTERNAL","message":"`+apierror.InternalMessage+`","requestId":"`+id+`"}}`, string(b))
		assert.NotContains(t, string(b), "refused")
	}
	assert.Empty(t, r.Enforced(), "nothing was switched on")
}
