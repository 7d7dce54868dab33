package retry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestEndToEndRateLimitedThenAdmitted runs the client against errkit's own
// middleware stack over a real listener: a handler answers RATE_LIMITED the
// first time (the middleware's error handler renders the envelope and sets
// Retry-After) and 200 the second. The client waits exactly the
// retryAfterMs, resends the same Idempotency-Key and body, and returns the
// success.
func TestEndToEndRateLimitedThenAdmitted(t *testing.T) {
	e := echo.New()
	require.NoError(t, middleware.Install(e, middleware.Config{Logger: zap.NewNop()}))
	type seen struct{ key, body, requestID string }
	var (
		mu   sync.Mutex
		hits []seen
	)
	e.POST("/v1/projects/:id/content", func(c echo.Context) error {
		b, _ := io.ReadAll(c.Request().Body)
		mu.Lock()
		n := len(hits)
		hits = append(hits, seen{c.Request().Header.Get(IdempotencyKeyHeader), string(b), middleware.RequestIDFrom(c)})
		mu.Unlock()
		if n == 0 {
			return apierror.RateLimited(1500 * time.Millisecond)
		}
		return c.JSON(http.StatusCreated, map[string]string{"containerId": "cnt_1"})
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	clk := newFakeClock()
	rec := &recorder{}
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, OnAttempt: rec.On}}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/projects/p1/content", strings.NewReader(`{"hook":"h"}`))
	require.NoError(t, err)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	defer resp.Body.Close()

	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.JSONEq(t, `{"containerId":"cnt_1"}`, readBody(t, resp))
	assert.Equal(t, []time.Duration{1500 * time.Millisecond}, clk.Waits())
	assert.Equal(t, []Decision{Retry, Done}, rec.Decisions())

	require.Len(t, rec.attempts, 2)
	first := rec.attempts[0]
	assert.Equal(t, "2", first.Response.Header.Get("Retry-After"), "the middleware's Retry-After, whole seconds rounded up")
	rl, ok := apierror.As(first.Err)
	require.True(t, ok)
	assert.Equal(t, apierror.CodeRateLimited, rl.Code())
	assert.Contains(t, first.Reason, "details.retryAfterMs")

	require.Len(t, hits, 2)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), hits[0].key)
	assert.Equal(t, hits[0].key, hits[1].key)
	assert.Equal(t, `{"hook":"h"}`, hits[0].body)
	assert.Equal(t, hits[0].body, hits[1].body)
	assert.Equal(t, hits[0].requestID, rl.RequestID(), "the decoded error carries the server's requestId")
	assert.NotEqual(t, hits[0].requestID, hits[1].requestID)
}

// TestEndToEndKillSwitchNotRetried: a policy gate from the real middleware
// stack comes back once, decoded, with its requestId and details.
func TestEndToEndKillSwitchNotRetried(t *testing.T) {
	e := echo.New()
	require.NoError(t, middleware.Install(e, middleware.Config{Logger: zap.NewNop()}))
	var (
		mu   sync.Mutex
		hits int
	)
	e.GET("/v1/whoami", func(c echo.Context) error {
		mu.Lock()
		hits++
		mu.Unlock()
		return apierror.KillSwitch("organization")
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	clk := newFakeClock()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/whoami", nil)
	require.NoError(t, err)
	_, err = (&Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk}}).Do(context.Background(), req)
	require.Error(t, err)
	assert.Equal(t, 1, hits)
	assert.Empty(t, clk.Waits())
	assert.Equal(t, 1, AttemptsOf(err))
	assert.ErrorIs(t, err, apierror.CodeKillSwitch)
	d, ok := apierror.DetailsAs[apierror.KillSwitchDetails](err)
	require.True(t, ok)
	assert.Equal(t, apierror.KillSwitchScope("organization"), d.Scope)
	ae, _ := apierror.As(err)
	assert.Regexp(t, `^req_[0-9A-HJKMNP-TV-Z]{26}$`, ae.RequestID())
}
