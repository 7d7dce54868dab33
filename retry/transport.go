package retry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/layershq/errkit/apierror"
)

// maxDrain is how much of a retried response's body is read before it is
// closed, so that its connection can be reused.
const maxDrain = 64 << 10

// Transport is an http.RoundTripper that follows the contract's retry
// guidance. After each attempt it decodes an error response with
// apierror.DecodeResponse and acts on the catalogue's Retry.Kind of the code:
//
//   - RetryHonorRetryAfter (RATE_LIMITED): wait exactly details.retryAfterMs
//     or the Retry-After header, without jitter (see below for both);
//   - RetryBackoff (INTERNAL, WORKFLOW_START_FAILED, unknown 5xx codes):
//     exponential backoff with jitter;
//   - RetryHonorRetryAfterMsOnce (PLATFORM_ERROR): with retryAfterMs, wait
//     exactly that and retry once; with null, do not retry;
//   - RetryWaitAndProbe (CIRCUIT_OPEN): wait details.retryAfterSeconds, send
//     one request, and wait again while it is still open;
//   - every other kind (caller bugs, policy gates, KILL_SWITCH): no retry.
//
// When both Retry-After and details.retryAfterMs are present and agree to
// within a second, the milliseconds are waited (the more precise); when they
// disagree, the longer of the two. An error response that is not an envelope
// (a proxy's HTML 502, 503 or 504) is transient: Retry-After if present, else
// backoff; other such responses are not retried. Backoff retries, and retries
// after network errors, need an idempotent method (GET, HEAD, OPTIONS, PUT,
// DELETE, TRACE) or an Idempotency-Key; waits the server names are
// permission enough. Nothing is retried once the request's context has ended.
//
// Limits come from Policy: at most MaxAttempts requests in all, and a wait
// the server names that is longer than MaxWait is not waited: the error is
// returned at once. Waits end early when the request's context ends.
//
// Every attempt carries the same Idempotency-Key: the request's own, or for a
// POST or PATCH without one a key generated once before the first attempt.
// Bodies are replayed with Request.GetBody; a body without GetBody is
// buffered once (up to Policy.MaxBufferedBody) and a longer one is streamed
// once and not retried. The caller's request is never modified.
//
// RoundTrip returns the last response as is when it stops (a non-retryable
// error response, or a retryable one once a limit is reached), body unread,
// so an http.Client sees the error response; retried responses are drained
// and closed. It returns a *Error and no response when the last attempt got
// no response or the context ended during a wait. Use Client.Do to get the
// decoded contract error instead of the response.
//
// A Transport is safe for concurrent use; do not change its fields once it
// is in use.
type Transport struct {
	// Base sends each attempt; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Policy holds the limits; the zero value uses every default.
	Policy Policy
	// Clock performs the waits; nil means SystemClock.
	Clock Clock
	// NewIdempotencyKey generates the key of a POST or PATCH sent without
	// one, called once per request; nil means NewIdempotencyKey. A function
	// returning "" disables generation.
	NewIdempotencyKey func() string
	// OnAttempt, when set, observes every attempt (for logs and metrics),
	// after the decision and before any wait. It must not read or close
	// Attempt.Response.Body.
	OnAttempt func(Attempt)
}

// Attempt describes one request sent by a Transport.
type Attempt struct {
	// N is the attempt number, from 1.
	N int
	// Request is the request sent: a clone of the caller's, with the
	// Idempotency-Key header it carried.
	Request *http.Request
	// Response is the response, or nil when none arrived.
	Response *http.Response
	// Err is the decoded contract error of an error response (*apierror.Error
	// or *apierror.ResponseError), the error of an attempt that got no
	// response, or nil for a success.
	Err error
	// Decision is what the Transport does next.
	Decision Decision
	// Wait is how long the Transport waits before the next attempt when
	// Decision is Retry, and 0 otherwise.
	Wait time.Duration
	// Reason says why, for logs: the code and the advice applied, or the limit
	// that was reached.
	Reason string
}

// RoundTrip sends req, retrying as the contract's guidance says; see
// Transport. It never modifies req and always closes req.Body.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	o := t.run(req)
	if o.resp != nil {
		return o.resp, nil
	}
	return nil, &Error{Attempts: o.attempts, Err: o.err}
}

// outcome is the end of a run: either the last response (body readable) with
// its decoded error, or no response and an error.
type outcome struct {
	resp     *http.Response
	err      error
	attempts int
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) clock() Clock {
	if t.Clock != nil {
		return t.Clock
	}
	return SystemClock
}

// run is the retry loop shared by RoundTrip and Client.Do.
func (t *Transport) run(req *http.Request) outcome {
	ctx := req.Context()
	p := t.Policy.withDefaults()
	clk := t.clock()

	if err := ctx.Err(); err != nil {
		closeBody(req.Body)
		return outcome{err: err}
	}
	b, err := prepareBody(req, p.MaxBufferedBody)
	if err != nil {
		return outcome{err: err}
	}

	key := req.Header.Get(IdempotencyKeyHeader)
	if key == "" && needsGeneratedKey(req.Method) {
		gen := t.NewIdempotencyKey
		if gen == nil {
			gen = NewIdempotencyKey
		}
		key = gen()
	}
	st := state{safe: idempotentMethod(req.Method) || key != "", replayable: b.replayable}

	for n := 1; ; n++ {
		r := req.Clone(ctx)
		if key != "" && r.Header.Get(IdempotencyKeyHeader) == "" {
			r.Header.Set(IdempotencyKeyHeader, key)
		}
		if err := b.attach(r, n); err != nil {
			return outcome{err: fmt.Errorf("retry: replaying the request body: %w", err), attempts: n - 1}
		}
		resp, err := t.base().RoundTrip(r)
		if err == nil && resp == nil {
			err = errNoResponse
		}
		st.n, st.now = n, clk.Now()

		var v verdict
		var decoded error
		if err != nil {
			if resp != nil { // a broken RoundTripper; do not leak the body
				closeBody(resp.Body)
				resp = nil
			}
			decoded = err
			v = p.decideNetwork(st, ctx, err)
		} else {
			if resp.StatusCode >= 400 {
				decoded = decode(resp)
			}
			v = p.decideResponse(st, resp, decoded)
		}
		if t.OnAttempt != nil {
			a := Attempt{N: n, Request: r, Response: resp, Err: decoded, Decision: v.decision, Reason: v.reason}
			if v.decision == Retry {
				a.Wait = v.wait
			}
			t.OnAttempt(a)
		}
		if v.decision != Retry {
			return outcome{resp: resp, err: decoded, attempts: n}
		}

		if resp != nil {
			drainClose(resp.Body)
		}
		if v.backoff {
			st.backoffs++
		}
		if v.platform {
			st.platformRetried = true
		}
		if v.inUse {
			st.inUseRetried = true
		}
		if werr := clk.Sleep(ctx, v.wait); werr != nil {
			return outcome{err: fmt.Errorf("%w (while waiting %v to retry after: %w)", werr, v.wait, decoded), attempts: n}
		}
		if err := ctx.Err(); err != nil { // a Clock that ignores ctx
			return outcome{err: fmt.Errorf("%w (while waiting %v to retry after: %w)", err, v.wait, decoded), attempts: n}
		}
	}
}

// decode reads the error response with apierror.DecodeResponse and puts what
// it read back in front of the rest of the body, so that the response can
// still be returned as is.
func decode(resp *http.Response) error {
	if resp.Body == nil || resp.Body == http.NoBody {
		return apierror.DecodeResponse(resp)
	}
	orig := resp.Body
	buf, rerr := io.ReadAll(io.LimitReader(orig, apierror.MaxDecodeBytes+1))
	resp.Body = &replayedBody{Reader: io.MultiReader(bytes.NewReader(buf), orig), closer: orig}
	view := *resp
	view.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf), errReader{rerr}))
	return apierror.DecodeResponse(&view)
}

// errReader returns err (or EOF) from every Read: the read error of the
// original body, surfaced to DecodeResponse.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// replayedBody is a response body whose first bytes were already read.
type replayedBody struct {
	io.Reader
	closer io.Closer
}

func (b *replayedBody) Close() error { return b.closer.Close() }

// body replays a request body over attempts.
type body struct {
	first      io.ReadCloser // the body of attempt 1
	getBody    func() (io.ReadCloser, error)
	length     int64 // the ContentLength to send
	replayable bool
}

// prepareBody sets up replay of req's body: GetBody when the request has it,
// else the body buffered once when it is at most max bytes. A longer body is
// streamed once and the request is not replayable. It closes req.Body on
// error.
func prepareBody(req *http.Request, max int64) (*body, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return &body{first: req.Body, length: req.ContentLength, replayable: true}, nil
	}
	if req.GetBody != nil {
		return &body{first: req.Body, getBody: req.GetBody, length: req.ContentLength, replayable: true}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, max+1))
	if err != nil {
		closeBody(req.Body)
		return nil, fmt.Errorf("retry: reading the request body: %w", err)
	}
	if int64(len(buf)) > max {
		return &body{first: &replayedBody{Reader: io.MultiReader(bytes.NewReader(buf), req.Body), closer: req.Body},
			length: req.ContentLength, replayable: false}, nil
	}
	closeBody(req.Body)
	get := func() (io.ReadCloser, error) {
		if len(buf) == 0 {
			return http.NoBody, nil
		}
		return io.NopCloser(bytes.NewReader(buf)), nil
	}
	first, _ := get()
	return &body{first: first, getBody: get, length: int64(len(buf)), replayable: true}, nil
}

// attach gives r the body of attempt n.
func (b *body) attach(r *http.Request, n int) error {
	r.ContentLength = b.length
	r.GetBody = b.getBody
	if n == 1 {
		r.Body = b.first
		return nil
	}
	if b.first == nil || b.first == http.NoBody {
		r.Body = b.first
		return nil
	}
	rc, err := b.getBody()
	if err != nil {
		return err
	}
	r.Body = rc
	return nil
}

func closeBody(c io.Closer) {
	if c != nil && c != http.NoBody {
		_ = c.Close()
	}
}

// drainClose reads a little of a body, so that its connection can be reused,
// and closes it.
func drainClose(rc io.ReadCloser) {
	if rc == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, maxDrain))
	_ = rc.Close()
}

// ensure the interface.
var _ http.RoundTripper = (*Transport)(nil)

// errNoResponse is returned by a Base that returns neither a response nor an
// error, which net/http forbids.
var errNoResponse = errors.New("retry: base RoundTripper returned no response and no error")
