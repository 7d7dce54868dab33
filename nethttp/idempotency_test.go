package nethttp

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/principal"
)

// idemRoute is the ServeMux pattern of the test route, which is also its
// route template.
const idemRoute = "POST /v1/projects/{projectId}/content"

// idemServer serves h at idemRoute behind Install, a test authentication
// (the X-Test-Key-Id header names the caller) and Idempotency(g), on a real
// listener.
func idemServer(t *testing.T, g *idempotency.Guard, h func(w http.ResponseWriter, r *http.Request) error) *httptest.Server {
	t.Helper()
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := r.Header.Get("X-Test-Key-Id"); id != "" {
				r = principal.Set(r, principal.Principal{KeyID: id})
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle(idemRoute, auth(Idempotency(g)(Handler(h))))
	hdl, err := Install(mux, Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(hdl)
	t.Cleanup(srv.Close)
	return srv
}

// idemReply is a response read whole.
type idemReply struct {
	status int
	header http.Header
	body   string
}

// idemDo POSTs body with the Idempotency-Key key to project's content.
func idemDo(srv *httptest.Server, project, key, body string) (idemReply, error) {
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/"+project+"/content", strings.NewReader(body))
	if err != nil {
		return idemReply{}, err
	}
	req.Header.Set("X-Test-Key-Id", "key_A")
	req.Header.Set(idempotency.HeaderKey, key)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return idemReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return idemReply{}, err
	}
	return idemReply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func idemMustDo(t *testing.T, srv *httptest.Server, project, key, body string) idemReply {
	t.Helper()
	r, err := idemDo(srv, project, key, body)
	require.NoError(t, err)
	return r
}

// idemEnvelope is the exact error body of r.
func idemEnvelope(r idemReply, code, message, details string) string {
	return `{"error":{"code":"` + code + `","message":"` + message + `","requestId":"` +
		r.header.Get("X-Request-Id") + `","details":` + details + `}}`
}

// idemNoLeaks fails the test when a goroutine it started outlives it.
func idemNoLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// TestIdempotency: over a real listener, a retry replays with
// Idempotent-Replayed, another body under the key is IDEMPOTENCY_CONFLICT
// (the fingerprint holds the pattern and its path parameters), a retry
// while the first request runs is CONFLICT with Retry-After, and a handler
// that renders an error, or panics, releases the key.
func TestIdempotency(t *testing.T) {
	idemNoLeaks(t)
	g, err := idempotency.New(idempotency.Config{})
	require.NoError(t, err)
	var runs atomic.Int64
	entered := make(chan struct{}, 1)
	gate := make(chan struct{})
	h := func(w http.ResponseWriter, r *http.Request) error {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		switch string(body) {
		case "fail":
			if runs.Add(1) == 1 {
				return apierror.Internal(errors.New("db down"))
			}
		case "panic":
			if runs.Add(1) == 1 {
				panic("boom")
			}
		case "slow":
			runs.Add(1)
			entered <- struct{}{}
			<-gate
		default:
			runs.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/v1/content/"+r.PathValue("projectId"))
		w.WriteHeader(http.StatusCreated)
		_, err = io.WriteString(w, `{"run":`+strconv.FormatInt(runs.Load(), 10)+`}`)
		return err
	}
	srv := idemServer(t, g, h)

	t.Run("replay", func(t *testing.T) {
		runs.Store(0)
		first := idemMustDo(t, srv, "prj_1", "order-1", `{"hook":"a"}`)
		require.Equal(t, http.StatusCreated, first.status, first.body)
		assert.Empty(t, first.header.Values(idempotency.HeaderReplayed))
		second := idemMustDo(t, srv, "prj_1", "order-1", `{"hook":"a"}`)
		assert.Equal(t, http.StatusCreated, second.status)
		assert.Equal(t, "true", second.header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, first.body, second.body)
		assert.Equal(t, `{"run":1}`, second.body)
		assert.Equal(t, "/v1/content/prj_1", second.header.Get("Location"))
		assert.Equal(t, "application/json", second.header.Get("Content-Type"))
		assert.NotEqual(t, first.header.Get("X-Request-Id"), second.header.Get("X-Request-Id"))
		assert.Equal(t, int64(1), runs.Load())
	})

	t.Run("conflict", func(t *testing.T) {
		runs.Store(0)
		require.Equal(t, http.StatusCreated, idemMustDo(t, srv, "prj_1", "order-2", `{"hook":"a"}`).status)
		for _, tt := range []struct{ project, body string }{{"prj_1", `{"hook":"b"}`}, {"prj_2", `{"hook":"a"}`}} {
			r := idemMustDo(t, srv, tt.project, "order-2", tt.body)
			orig := idempotency.Fingerprint(http.MethodPost, idemRoute,
				[]idempotency.Param{{Name: "projectId", Value: "prj_1"}}, "", []byte(`{"hook":"a"}`))
			cur := idempotency.Fingerprint(http.MethodPost, idemRoute,
				[]idempotency.Param{{Name: "projectId", Value: tt.project}}, "", []byte(tt.body))
			assert.Equal(t, http.StatusConflict, r.status)
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, idemEnvelope(r, "IDEMPOTENCY_CONFLICT",
				"This Idempotency-Key was used earlier with a different request body.",
				`{"originalRequestHash":"`+orig+`","currentRequestHash":"`+cur+`"}`), r.body)
		}
		assert.Equal(t, int64(1), runs.Load())
	})

	t.Run("in use", func(t *testing.T) {
		runs.Store(0)
		first := make(chan idemReply, 1)
		go func() {
			r, _ := idemDo(srv, "prj_1", "order-3", "slow")
			first <- r
		}()
		<-entered
		r := idemMustDo(t, srv, "prj_1", "order-3", "slow")
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, "1", r.header.Get("Retry-After"))
		assert.Equal(t, idemEnvelope(r, "CONFLICT", "The request collides with the current state of the resource.",
			`{"reason":"idempotency_key_in_use"}`), r.body)
		close(gate)
		assert.Equal(t, http.StatusCreated, (<-first).status)
		assert.Equal(t, "true", idemMustDo(t, srv, "prj_1", "order-3", "slow").header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, int64(1), runs.Load())
	})

	for _, body := range []string{"fail", "panic"} {
		t.Run("release on "+body, func(t *testing.T) {
			runs.Store(0)
			r := idemMustDo(t, srv, "prj_1", "order-"+body, body)
			assert.Equal(t, http.StatusInternalServerError, r.status)
			assert.Equal(t, `{"error":{"code":"INTERNAL","message":"`+apierror.InternalMessage+`","requestId":"`+
				r.header.Get("X-Request-Id")+`"}}`, r.body)
			retry := idemMustDo(t, srv, "prj_1", "order-"+body, body)
			assert.Equal(t, http.StatusCreated, retry.status, "the key was released: the retry ran")
			assert.Empty(t, retry.header.Values(idempotency.HeaderReplayed))
			assert.Equal(t, int64(2), runs.Load())
		})
	}

	t.Run("invalid key", func(t *testing.T) {
		runs.Store(0)
		r := idemMustDo(t, srv, "prj_1", strings.Repeat("k", 256), `{}`)
		assert.Equal(t, http.StatusUnprocessableEntity, r.status)
		assert.Equal(t, idemEnvelope(r, "VALIDATION", "The request failed validation.",
			`{"issues":[{"path":"header:Idempotency-Key","message":"Idempotency-Key must be at most 255 characters long."}]}`), r.body)
		assert.Zero(t, runs.Load())
	})
}

// TestIdempotencyPathParams: the parameters are the pattern's wildcards in
// order, "{name...}" included and "{$}" not, with their values.
func TestIdempotencyPathParams(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          []idempotency.Param
	}{
		{"POST /v1/orders", "/v1/orders", nil},
		{"/v1/orders/{$}", "/v1/orders/", nil},
		{"POST /v1/projects/{projectId}/content", "/v1/projects/prj_1/content",
			[]idempotency.Param{{Name: "projectId", Value: "prj_1"}}},
		{"PATCH /v1/orgs/{org}/things/{id}/{$}", "/v1/orgs/o1/things/t%202/",
			[]idempotency.Param{{Name: "org", Value: "o1"}, {Name: "id", Value: "t 2"}}},
		{"POST example.com/files/{bucket}/{path...}", "/files/b/a/b/c.txt",
			[]idempotency.Param{{Name: "bucket", Value: "b"}, {Name: "path", Value: "a/b/c.txt"}}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			var got []idempotency.Param
			called := false
			mux := http.NewServeMux()
			mux.HandleFunc(tt.pattern, func(_ http.ResponseWriter, r *http.Request) {
				called = true
				got = pathParams(nil, r)
			})
			method, _, ok := strings.Cut(tt.pattern, " ")
			if !ok || strings.HasPrefix(method, "/") {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, "http://example.com"+tt.path, nil)
			mux.ServeHTTP(httptest.NewRecorder(), req)
			require.True(t, called)
			assert.Equal(t, tt.want, got)
		})
	}
	// Outside a route there is no pattern and so no parameter.
	assert.Empty(t, pathParams(nil, httptest.NewRequest(http.MethodPost, "/x", nil)))

	// A router with regexp wildcards (chi: {id:[0-9]+}) that sets Pattern
	// and the path values: the name is what precedes the colon.
	r := httptest.NewRequest(http.MethodPost, "/p/42", nil)
	r.Pattern = "/p/{id:[0-9]+}"
	r.SetPathValue("id", "42")
	assert.Equal(t, []idempotency.Param{{Name: "id", Value: "42"}}, pathParams(nil, r))
}

func TestIdempotencyNilGuardPanics(t *testing.T) {
	assert.PanicsWithValue(t, "errkit/nethttp: Idempotency: nil *idempotency.Guard", func() { Idempotency(nil) })
}
