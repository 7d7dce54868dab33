package middleware_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// idemRoute is the echo route of the idempotency tests; c.Path() reports it.
const idemRoute = "/v1/projects/:projectId/content"

// idemLogs collects JSON log lines; it is safe for concurrent use.
type idemLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *idemLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// access returns the statuses of the access log lines, in order.
func (l *idemLogs) access(t *testing.T) []int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var m struct {
			Msg    string `json:"msg"`
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if m.Msg == "request" {
			assert.Equal(t, idemRoute, m.Route)
			out = append(out, m.Status)
		}
	}
	return out
}

// idemServer serves h at POST idemRoute on a real listener, behind Install
// (with the access log), a test authentication (the X-Test-Key-Id header
// names the caller), a probe that checks the handler chain hands back
// echo's own Response, and mw.
func idemServer(t *testing.T, mw echo.MiddlewareFunc, h echo.HandlerFunc) (*httptest.Server, *idemLogs) {
	t.Helper()
	logs := &idemLogs{}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	require.NoError(t, errkitmw.Install(e, errkitmw.Config{
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		AccessLog: &errkitmw.AccessLogConfig{},
	}))
	authenticate := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if id := c.Request().Header.Get("X-Test-Key-Id"); id != "" {
				errkitmw.SetPrincipal(c, principal.Principal{KeyID: id})
			}
			return next(c)
		}
	}
	probe := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			err := next(c)
			assert.Same(t, res, c.Response(), "the middleware restores echo's Response")
			return err
		}
	}
	e.POST(idemRoute, h, authenticate, probe, mw)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, logs
}

// idemReply is a response read whole.
type idemReply struct {
	status int
	header http.Header
	body   string
}

// idemDo POSTs body with the Idempotency-Key key to project's content.
func idemDo(srv *httptest.Server, project, key, body string, hdr ...string) (idemReply, error) {
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/"+project+"/content", strings.NewReader(body))
	if err != nil {
		return idemReply{}, err
	}
	req.Header.Set("X-Test-Key-Id", "key_A")
	req.Header.Set(idempotency.HeaderKey, key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
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

func idemMustDo(t *testing.T, srv *httptest.Server, project, key, body string, hdr ...string) idemReply {
	t.Helper()
	r, err := idemDo(srv, project, key, body, hdr...)
	require.NoError(t, err)
	return r
}

// lines counts the access log lines written so far.
func (l *idemLogs) lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.buf.Bytes(), []byte(`"msg":"request"`))
}

// TestIdempotencyEchoResponse checks the echo glue under idempotency (its
// wire results are the conformance suite's): whatever the guard answers
// (the run, a replay, a conflict, a key in use, a failure), the handler
// chain gets echo's own Response back (the probe in idemServer), and
// echo's Response, so the access log, has the status the client got, with
// c.Path() as the route.
func TestIdempotencyEchoResponse(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{})
	require.NoError(t, err)
	entered := make(chan struct{}, 1)
	gate := make(chan struct{})
	h := func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		switch string(body) {
		case "fail":
			return apierror.Internal(errors.New("db down"))
		case "slow":
			entered <- struct{}{}
			<-gate
		}
		c.Response().Header().Set(echo.HeaderLocation, "/v1/content/"+c.Param("projectId"))
		return c.JSON(http.StatusCreated, map[string]string{"body": string(body)})
	}
	srv, logs := idemServer(t, errkitmw.Idempotency(g), h)

	want := []int{}
	for _, tt := range []struct {
		name, key, body string
		status          int
	}{
		{"run", "order-1", `{"hook":"a"}`, http.StatusCreated},
		{"replay", "order-1", `{"hook":"a"}`, http.StatusCreated},
		{"conflict", "order-1", `{"hook":"b"}`, http.StatusConflict},
		{"failure", "order-f", "fail", http.StatusInternalServerError},
	} {
		r := idemMustDo(t, srv, "prj_1", tt.key, tt.body)
		assert.Equal(t, tt.status, r.status, tt.name)
		want = append(want, tt.status)
	}
	held := make(chan idemReply, 1)
	go func() {
		r, _ := idemDo(srv, "prj_1", "order-3", "slow")
		held <- r
	}()
	<-entered
	assert.Equal(t, http.StatusConflict, idemMustDo(t, srv, "prj_1", "order-3", "slow").status, "in use")
	close(gate)
	assert.Equal(t, http.StatusCreated, (<-held).status)
	want = append(want, http.StatusConflict, http.StatusCreated)

	require.Eventually(t, func() bool { return logs.lines() == len(want) }, 5*time.Second, 10*time.Millisecond)
	assert.ElementsMatch(t, want, logs.access(t), "each response's status reached echo's Response")
}

// TestIdempotencySkipper: a skipped request runs every time, whatever its
// Idempotency-Key.
func TestIdempotencySkipper(t *testing.T) {
	g, err := idempotency.New(idempotency.Config{})
	require.NoError(t, err)
	var runs atomic.Int64
	h := func(c echo.Context) error {
		return c.String(http.StatusCreated, strconv.FormatInt(runs.Add(1), 10))
	}
	srv, _ := idemServer(t, errkitmw.IdempotencyWithConfig(errkitmw.IdempotencyConfig{
		Skipper: func(c echo.Context) bool { return c.Request().Header.Get("X-Skip") != "" },
		Guard:   g,
	}), h)
	for i := range 2 {
		r := idemMustDo(t, srv, "prj_1", "skipped", `{}`, "X-Skip", "1")
		assert.Equal(t, strconv.Itoa(i+1), r.body)
		assert.Empty(t, r.header.Values(idempotency.HeaderReplayed))
	}
	first := idemMustDo(t, srv, "prj_1", "skipped", `{}`)
	again := idemMustDo(t, srv, "prj_1", "skipped", `{}`)
	assert.Equal(t, "3", first.body)
	assert.Equal(t, "3", again.body)
	assert.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
}

func TestIdempotencyConfig(t *testing.T) {
	mw, err := errkitmw.IdempotencyConfig{}.ToMiddleware()
	assert.Nil(t, mw)
	require.EqualError(t, err, "errkit/middleware: IdempotencyConfig.Guard is nil")
	assert.Panics(t, func() { errkitmw.Idempotency(nil) })
	assert.Panics(t, func() { errkitmw.IdempotencyWithConfig(errkitmw.IdempotencyConfig{}) })
	g, err := idempotency.New(idempotency.Config{})
	require.NoError(t, err)
	mw, err = errkitmw.IdempotencyConfig{Guard: g}.ToMiddleware()
	require.NoError(t, err)
	assert.NotNil(t, mw)
}
