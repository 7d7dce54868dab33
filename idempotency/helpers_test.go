package idempotency

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
)

// Routes of the test service. contentRoute is the template c.Path() reports.
const (
	contentRoute = "/v1/projects/:projectId/content"
	contentPath  = "/v1/projects/prj_1/content"
	otherPath    = "/v1/other"
	keyIDHeader  = "X-Test-Key-Id"
)

// testAuth stands for a service's authentication middleware: it records the
// caller named by the X-Test-Key-Id header.
func testAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if id := c.Request().Header.Get(keyIDHeader); id != "" {
			principal.Set(c, principal.Principal{KeyID: id, OrganizationID: "org_1"})
		}
		return next(c)
	}
}

// newEcho is a real echo with errkit's middleware installed (request IDs,
// recovery, the contract's error handler) logging to an observer, the test
// auth middleware, and the idempotency middleware for cfg on the /v1 group
// (POST, PATCH and PUT of the content route, POST of /v1/other).
func newEcho(t *testing.T, cfg IdempotencyConfig, h echo.HandlerFunc) (*echo.Echo, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	e := echo.New()
	e.Logger.SetOutput(io.Discard)
	require.NoError(t, middleware.Install(e, middleware.Config{Logger: zap.New(core)}))
	e.Use(testAuth)
	mw, err := cfg.ToMiddleware()
	require.NoError(t, err)
	g := e.Group("/v1", mw)
	g.POST("/projects/:projectId/content", h)
	g.PATCH("/projects/:projectId/content", h)
	g.PUT("/projects/:projectId/content", h)
	g.POST("/other", h)
	return e, logs
}

// newServer serves newEcho on a real HTTP listener.
func newServer(t *testing.T, cfg IdempotencyConfig, h echo.HandlerFunc) (*httptest.Server, *observer.ObservedLogs) {
	t.Helper()
	e, logs := newEcho(t, cfg, h)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, logs
}

// creator is a handler doing "work": every run gets a new ID, so a second
// run can't be mistaken for a replay.
type creator struct {
	calls atomic.Int64
}

func (cr *creator) handle(c echo.Context) error {
	n := cr.calls.Add(1)
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderLocation, fmt.Sprintf("/v1/content/cnt_%d", n))
	h.Set("X-Not-Replayed", "per-run")
	return c.JSON(http.StatusCreated, map[string]any{
		"id": fmt.Sprintf("cnt_%d", n), "project": c.Param("projectId"), "body": string(body),
	})
}

// call is one request of a test.
type call struct {
	method string // default POST
	path   string // default contentPath
	keyID  string // X-Test-Key-Id; "" for an unauthenticated caller
	keys   []string
	body   string
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// do sends c to srv; it may run on any goroutine.
func do(srv *httptest.Server, c call) (reply, error) {
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.path == "" {
		c.path = contentPath
	}
	req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	if c.keyID != "" {
		req.Header.Set(keyIDHeader, c.keyID)
	}
	for _, k := range c.keys {
		req.Header.Add(HeaderKey, k)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// mustDo is do on the test goroutine.
func mustDo(t *testing.T, srv *httptest.Server, c call) reply {
	t.Helper()
	r, err := do(srv, c)
	require.NoError(t, err)
	return r
}

// envelope is the exact error body the contract's error handler renders for
// a response, built with the response's own X-Request-Id.
func envelope(r reply, code, message, details string) string {
	s := `{"error":{"code":"` + code + `","message":"` + message + `","requestId":"` + r.header.Get("X-Request-Id") + `"`
	if details != "" {
		s += `,"details":` + details
	}
	return s + "}}"
}

// httpRequest builds a server-side request for e.ServeHTTP.
func httpRequest(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	return req
}

// serve runs req through e without a listener (for header bytes net/http
// would refuse before they reach a handler).
func serve(e *echo.Echo, req *http.Request) reply {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// readReply reads resp whole.
func readReply(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
