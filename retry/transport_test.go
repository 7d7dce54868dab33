package retry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onlyReader hides every interface but io.Reader, so that http.NewRequest
// cannot set GetBody.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestIdempotencyKeyAndBody checks that every attempt carries the same
// Idempotency-Key and the same body, and that the caller's request is left
// alone.
func TestIdempotencyKeyAndBody(t *testing.T) {
	const payload = `{"hook":"a cat plays piano","count":3}`
	hexKey := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name    string
		method  string
		key     string // the caller's own key
		body    func() io.Reader
		wantKey func(t *testing.T, k string)
	}{
		{"POST without a key: one generated before the first attempt", http.MethodPost, "", func() io.Reader { return strings.NewReader(payload) },
			func(t *testing.T, k string) { assert.Regexp(t, hexKey, k) }},
		{"PATCH without a key: one generated", http.MethodPatch, "", func() io.Reader { return bytes.NewBufferString(payload) },
			func(t *testing.T, k string) { assert.Regexp(t, hexKey, k) }},
		{"POST with the caller's key: reused", http.MethodPost, "idem-123", func() io.Reader { return strings.NewReader(payload) },
			func(t *testing.T, k string) { assert.Equal(t, "idem-123", k) }},
		{"POST with a body without GetBody: buffered once and replayed", http.MethodPost, "", func() io.Reader { return onlyReader{strings.NewReader(payload)} },
			func(t *testing.T, k string) { assert.Regexp(t, hexKey, k) }},
		{"PUT: no key generated", http.MethodPut, "", func() io.Reader { return strings.NewReader(payload) },
			func(t *testing.T, k string) { assert.Empty(t, k) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := newScript(t, fail(apierror.Internal(nil)), fail(apierror.RateLimited(time.Second), "Retry-After", "1"), ok("done"))
			clk := newFakeClock()
			c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, Policy: Policy{Rand: half}}}
			req, err := http.NewRequest(tt.method, srv.URL+"/v1/projects/p/content", tt.body())
			require.NoError(t, err)
			req.Header.Set("X-Caller", "application/x-test")
			if tt.key != "" {
				req.Header.Set(IdempotencyKeyHeader, tt.key)
			}
			before := req.Header.Clone()

			resp, err := c.Do(context.Background(), req)
			require.NoError(t, err)
			assert.Equal(t, "done", readBody(t, resp))
			require.NoError(t, resp.Body.Close())

			hits := s.Hits()
			require.Len(t, hits, 3)
			tt.wantKey(t, hits[0].Key)
			for i, h := range hits {
				assert.Equal(t, tt.method, h.Method, "attempt %d", i+1)
				assert.Equal(t, hits[0].Key, h.Key, "attempt %d: same Idempotency-Key", i+1)
				assert.Equal(t, payload, h.Body, "attempt %d: same body", i+1)
				assert.Equal(t, "application/x-test", h.Header.Get("X-Caller"), "attempt %d: caller's headers", i+1)
			}
			assert.Equal(t, []time.Duration{250 * time.Millisecond, time.Second}, clk.Waits())
			assert.Equal(t, before, req.Header, "the caller's request is not modified")
		})
	}
}

// TestKeyGenerator checks the configurable generator: called once per
// request (not per attempt), and "" disables generation.
func TestKeyGenerator(t *testing.T) {
	srv, s := newScript(t, fail(apierror.RateLimited(time.Second), "Retry-After", "1"), fail(apierror.Internal(nil)), ok("done"))
	var calls atomic.Int32
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: newFakeClock(),
		NewIdempotencyKey: func() string { calls.Add(1); return "generated-" + itoa(int(calls.Load())) }}}
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	require.NoError(t, err)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, int32(1), calls.Load())
	for _, h := range s.Hits() {
		assert.Equal(t, "generated-1", h.Key)
	}
	assert.Len(t, s.Hits(), 3)
}

// TestLargeBodyWithoutGetBody checks that a body without GetBody longer than
// MaxBufferedBody is streamed once, whole, and not retried.
func TestLargeBodyWithoutGetBody(t *testing.T) {
	srv, s := newScript(t, fail(apierror.RateLimited(time.Second), "Retry-After", "1"), ok("never"))
	rec := &recorder{}
	clk := newFakeClock()
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk, OnAttempt: rec.On, Policy: Policy{MaxBufferedBody: 8}}}
	body := strings.Repeat("0123456789", 10)
	req, err := http.NewRequest(http.MethodPost, srv.URL, onlyReader{strings.NewReader(body)})
	require.NoError(t, err)
	_, err = c.Do(context.Background(), req)
	require.Error(t, err)
	assert.Equal(t, apierror.CodeRateLimited, apierror.CodeOf(err))
	require.Len(t, s.Hits(), 1)
	assert.Equal(t, body, s.Hits()[0].Body)
	assert.Equal(t, []Decision{Stop}, rec.Decisions())
	assert.Contains(t, rec.attempts[0].Reason, "cannot be replayed")
	assert.Empty(t, clk.Waits())
}

// TestNetworkErrors checks the network-error rules against a server that
// hangs up without answering.
func TestNetworkErrors(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		key       string
		noKeyGen  bool
		wantRetry bool
	}{
		{"GET is retried", http.MethodGet, "", false, true},
		{"HEAD is retried", http.MethodHead, "", false, true},
		{"PUT is retried", http.MethodPut, "", false, true},
		{"DELETE is retried", http.MethodDelete, "", false, true},
		{"OPTIONS is retried", http.MethodOptions, "", false, true},
		{"POST with a generated key is retried", http.MethodPost, "", false, true},
		{"POST with the caller's key is retried", http.MethodPost, "k1", true, true},
		{"POST without a key is not retried", http.MethodPost, "", true, false},
		{"PATCH without a key is not retried", http.MethodPatch, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := newScript(t, hangup, ok("fine"))
			base := srv.Client().Transport.(*http.Transport).Clone()
			base.DisableKeepAlives = true // no silent retry inside net/http
			t.Cleanup(base.CloseIdleConnections)
			clk := newFakeClock()
			rec := &recorder{}
			tr := &Transport{Base: base, Clock: clk, OnAttempt: rec.On, Policy: Policy{Rand: half}}
			if tt.noKeyGen {
				tr.NewIdempotencyKey = func() string { return "" }
			}
			req, err := http.NewRequest(tt.method, srv.URL, strings.NewReader("payload"))
			require.NoError(t, err)
			if tt.key != "" {
				req.Header.Set(IdempotencyKeyHeader, tt.key)
			}
			resp, err := (&Client{Transport: tr}).Do(context.Background(), req)
			hits := s.Hits()
			if tt.wantRetry {
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				require.Len(t, hits, 2)
				assert.Equal(t, []time.Duration{250 * time.Millisecond}, clk.Waits())
				assert.Equal(t, []Decision{Retry, Done}, rec.Decisions())
				assert.Nil(t, rec.attempts[0].Response)
				assert.Error(t, rec.attempts[0].Err)
				assert.Equal(t, hits[0].Key, hits[1].Key)
				return
			}
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.Len(t, hits, 1)
			assert.Empty(t, clk.Waits())
			assert.Equal(t, []Decision{Stop}, rec.Decisions())
			assert.Equal(t, 1, AttemptsOf(err))
			_, isAPI := apierror.As(err)
			assert.False(t, isAPI, "a network error is not a contract error")
		})
	}
}

// TestNetworkErrorAttemptCap checks that a server that always hangs up gets
// MaxAttempts requests and the network error comes back wrapped.
func TestNetworkErrorAttemptCap(t *testing.T) {
	srv, s := newScript(t, hangup)
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.DisableKeepAlives = true
	t.Cleanup(base.CloseIdleConnections)
	clk := newFakeClock()
	rec := &recorder{}
	tr := &Transport{Base: base, Clock: clk, OnAttempt: rec.On, Policy: Policy{Rand: half, MaxAttempts: 4}}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	// Through an http.Client: the *Error arrives inside a *url.Error.
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.Error(t, err)
	assert.Nil(t, resp)
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 4, AttemptsOf(err))
	assert.Len(t, s.Hits(), 4)
	assert.Equal(t, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}, clk.Waits())
	assert.Equal(t, []Decision{Retry, Retry, Retry, GiveUp}, rec.Decisions())
}

// TestContextCancelledMidWait cancels the context while the Transport waits
// out a Retry-After: the wait ends, nothing more is sent, and the error
// carries both the cancellation and the code that was being retried.
func TestContextCancelledMidWait(t *testing.T) {
	srv, s := newScript(t, fail(apierror.RateLimited(30*time.Second), "Retry-After", "30"), ok("never"))
	clk := newFakeClock()
	clk.block = true
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("body"))
	require.NoError(t, err)

	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Do(ctx, req)
		done <- result{resp, err}
	}()
	<-clk.sleeping
	cancel()
	r := <-done

	require.Error(t, r.err)
	assert.Nil(t, r.resp)
	assert.ErrorIs(t, r.err, context.Canceled)
	assert.Equal(t, apierror.CodeRateLimited, apierror.CodeOf(r.err))
	assert.Equal(t, 1, AttemptsOf(r.err))
	assert.Equal(t, []time.Duration{30 * time.Second}, clk.Waits())
	assert.Len(t, s.Hits(), 1)
}

// TestSystemClockCancelled runs the real clock: a context cancelled from the
// attempt hook ends a 30 s wait at once.
func TestSystemClockCancelled(t *testing.T) {
	srv, s := newScript(t, fail(apierror.CircuitOpen("appstore", 30*time.Second)), ok("never"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Client{Transport: &Transport{Base: srv.Client().Transport, OnAttempt: func(Attempt) { cancel() }}}
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, err = c.Do(ctx, req)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, apierror.CodeCircuitOpen, apierror.CodeOf(err))
	assert.Len(t, s.Hits(), 1)
}

// TestContextDoneBeforeFirstAttempt: nothing is sent, the body is closed.
func TestContextDoneBeforeFirstAttempt(t *testing.T) {
	srv, s := newScript(t, ok("never"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := &closeTracker{Reader: strings.NewReader("x")}
	req, err := http.NewRequest(http.MethodPost, srv.URL, b)
	require.NoError(t, err)
	_, err = (&Client{Transport: &Transport{Base: srv.Client().Transport}}).Do(ctx, req)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, AttemptsOf(err))
	assert.Empty(t, s.Hits())
	assert.True(t, b.closed.Load())
}

// TestRoundTripperReturnsLastResponse checks the RoundTripper shape under a
// plain http.Client: retried responses are invisible, the final one comes
// back as is, byte for byte.
func TestRoundTripperReturnsLastResponse(t *testing.T) {
	validation := apierror.Validation(apierror.Issue{Path: "hook", Message: "is required"})
	srv, s := newScript(t, fail(apierror.RateLimited(time.Second), "Retry-After", "1"), fail(validation))
	clk := newFakeClock()
	hc := &http.Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk}}
	resp, err := hc.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "req_2", resp.Header.Get("X-Request-Id"))
	assert.Equal(t, string(validation.Render("req_2")), readBody(t, resp))
	assert.Equal(t, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_2","details":{"issues":[{"path":"hook","message":"is required"}]}}}`,
		string(validation.Render("req_2")))
	assert.Len(t, s.Hits(), 2)
	assert.Equal(t, []time.Duration{time.Second}, clk.Waits())
}

// TestRoundTripperMaxWait: a 3-day Retry-After comes back at once, as is.
func TestRoundTripperMaxWait(t *testing.T) {
	srv, s := newScript(t, fail(apierror.RateLimited(259200*time.Second), "Retry-After", "259200"), ok("never"))
	clk := newFakeClock()
	hc := &http.Client{Transport: &Transport{Base: srv.Client().Transport, Clock: clk}}
	resp, err := hc.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "259200", resp.Header.Get("Retry-After"))
	assert.Equal(t, `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after the time given in Retry-After.","requestId":"req_1","details":{"retryAfterMs":259200000}}}`, readBody(t, resp))
	assert.Len(t, s.Hits(), 1)
	assert.Empty(t, clk.Waits())
}

// TestRetriedBodiesClosed checks that every retried response body is drained
// and closed, and the final one is left to the caller.
func TestRetriedBodiesClosed(t *testing.T) {
	srv, _ := newScript(t, fail(apierror.Internal(nil)), raw(502, strings.Repeat("<html>", 100000)), fail(apierror.Internal(nil)))
	var mu sync.Mutex
	var bodies []*closeTracker
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := srv.Client().Transport.RoundTrip(r)
		if err == nil {
			ct := &closeTracker{Reader: resp.Body, closer: resp.Body}
			mu.Lock()
			bodies = append(bodies, ct)
			mu.Unlock()
			resp.Body = ct
		}
		return resp, err
	})
	hc := &http.Client{Transport: &Transport{Base: base, Clock: newFakeClock()}}
	resp, err := hc.Get(srv.URL)
	require.NoError(t, err)
	require.Len(t, bodies, 3)
	assert.True(t, bodies[0].closed.Load())
	assert.True(t, bodies[1].closed.Load())
	assert.False(t, bodies[2].closed.Load(), "the final body is the caller's")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, string(apierror.Internal(nil).Render("req_3")), readBody(t, resp))
	require.NoError(t, resp.Body.Close())
	assert.True(t, bodies[2].closed.Load())
}

// TestBaseBrokenContract: a Base returning neither response nor error is a
// network-style error, not a panic.
func TestBaseBrokenContract(t *testing.T) {
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	req, err := http.NewRequest(http.MethodPost, "http://example.invalid", nil)
	require.NoError(t, err)
	_, err = (&Client{Transport: &Transport{Base: base, Clock: newFakeClock(), Policy: Policy{MaxAttempts: 2}}}).Do(context.Background(), req)
	require.ErrorIs(t, err, errNoResponse)
	assert.Equal(t, 2, AttemptsOf(err))
}

// TestGetBodyFailure: a GetBody that fails on replay ends the request with
// that error.
func TestGetBodyFailure(t *testing.T) {
	srv, s := newScript(t, fail(apierror.RateLimited(time.Second), "Retry-After", "1"), ok("never"))
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	require.NoError(t, err)
	boom := errors.New("boom")
	req.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	_, err = (&Client{Transport: &Transport{Base: srv.Client().Transport, Clock: newFakeClock()}}).Do(context.Background(), req)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, AttemptsOf(err))
	assert.Len(t, s.Hits(), 1)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closeTracker records Close.
type closeTracker struct {
	io.Reader
	closer io.Closer
	closed atomic.Bool
}

func (c *closeTracker) Close() error {
	c.closed.Store(true)
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}
