package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
)

// Defaults of [ClientConfig].
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxErrorBody = 64 << 10
)

// The platformCode of a call that got no answer from the platform. These are
// ours, not the platform's: there was no platform code to report.
const (
	// CodeTimeout: the platform did not answer within the Timeout, or the
	// caller's deadline passed first.
	CodeTimeout = "timeout"
	// CodeUnreachable: the platform could not be reached (DNS, connection
	// refused or reset, TLS).
	CodeUnreachable = "unreachable"
	// CodeCanceled: the caller canceled the call.
	CodeCanceled = "canceled"
)

// ClientConfig configures [NewClient].
type ClientConfig struct {
	// Platform is the platform every call goes to. Required.
	Platform apierror.Platform
	// Resource names the integration for the breaker (CIRCUIT_OPEN's
	// details.resource), for example "tiktok-publish". Default: the
	// platform's name.
	Resource string
	// Breaker, when set, guards every call with the circuit of (Platform,
	// Resource). nil: no breaker.
	Breaker *Breaker
	// Transport sends the calls. Default http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds each call, from sending the request to the end of
	// reading the response body. Default DefaultTimeout.
	Timeout time.Duration
	// MaxErrorBody is how much of an error response's body is read to
	// decode the platform's error. Default DefaultMaxErrorBody.
	MaxErrorBody int64
	// MaxMessageLength caps platformMessage, in bytes. Default
	// DefaultMaxMessageLength.
	MaxMessageLength int
	// MaxRetryAfter caps the retry window a platform names. Default
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// FailureStatus reports whether a response status counts as a failure
	// of the platform for the breaker. Default: 500 and above. Calls that
	// got no response (unreachable, timed out) always count; 4xx answers
	// are the platform working and judging our request, so by default they
	// count as successes (and 429, whose retryAfterMs says more than a
	// cooldown could, too).
	FailureStatus func(status int) bool
	// Clock dates HTTP-date Retry-After headers; nil means SystemClock.
	Clock Clock
}

// Client calls one platform's API and turns each failure into the
// contract's error: PLATFORM_ERROR with the platform's own code and message,
// or CIRCUIT_OPEN while the platform's circuit is open. See the package
// documentation. A Client is safe for concurrent use.
type Client struct {
	cfg      ClientConfig
	base     http.RoundTripper
	circuit  *Circuit
	clock    Clock
	failures func(int) bool
}

// NewClient returns a Client for cfg. It fails for an invalid platform or
// resource and for negative limits.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !cfg.Platform.Valid() {
		return nil, fmt.Errorf("upstream: ClientConfig.Platform %q is not one of tiktok, meta, apple, instagram, appstore", string(cfg.Platform))
	}
	if cfg.Timeout < 0 || cfg.MaxErrorBody < 0 || cfg.MaxMessageLength < 0 || cfg.MaxRetryAfter < 0 {
		return nil, errors.New("upstream: ClientConfig limits must not be negative")
	}
	if cfg.Resource == "" {
		cfg.Resource = string(cfg.Platform)
	}
	if err := validResource(cfg.Resource); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxErrorBody == 0 {
		cfg.MaxErrorBody = DefaultMaxErrorBody
	}
	if cfg.MaxMessageLength == 0 {
		cfg.MaxMessageLength = DefaultMaxMessageLength
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	c := &Client{cfg: cfg, base: cfg.Transport, clock: clockOr(cfg.Clock), failures: cfg.FailureStatus}
	if c.base == nil {
		c.base = http.DefaultTransport
	}
	if c.failures == nil {
		c.failures = func(status int) bool { return status >= 500 }
	}
	if cfg.Breaker != nil {
		circuit, err := cfg.Breaker.Circuit(cfg.Platform, cfg.Resource)
		if err != nil {
			return nil, err
		}
		c.circuit = circuit
	}
	return c, nil
}

// Circuit returns the circuit guarding the client's calls, or nil without a
// Breaker.
func (c *Client) Circuit() *Circuit { return c.circuit }

// Do sends req to the platform. A 2xx response is returned as it is, body
// unread (close it; reading it is bounded by Timeout). Anything else
// returns a nil response and an *apierror.Error:
//
//   - CIRCUIT_OPEN while the circuit is open, without sending anything;
//   - PLATFORM_ERROR for an error response, with the platform's code and
//     message decoded from its error format (or "http_<status>" and the
//     status text when the body is in none), and retryAfterMs from the
//     platform's retry window, null when it named none;
//   - PLATFORM_ERROR with platformCode [CodeTimeout], [CodeUnreachable] or
//     [CodeCanceled] when no response came.
//
// A TikTok 2xx whose body carries an error other than "ok" is an error
// response too. The error's cause, for logs only, names the call (URL
// without its query) and the platform's trace ID. req is not modified.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		return nil, apierror.Internal(errors.New("upstream: Client.Do called with a nil request or URL"))
	}
	ctx := req.Context()
	var permit Permit
	if c.circuit != nil {
		p, err := c.circuit.Allow(ctx)
		if err != nil {
			if req.Body != nil {
				req.Body.Close() // as any RoundTripper must, even when nothing is sent
			}
			return nil, err
		}
		permit = p
	}
	resp, outcome, err := c.send(req)
	permit.Done(outcome)
	return resp, err
}

// RoundTrip is Do, so that a Client can be the Transport of an http.Client
// (or of a platform SDK that takes one). The http.Client wraps the errors in
// a *url.Error carrying the full URL, tokens included: apierror.From still
// finds the contract error in it, but log the contract error, not the
// wrapper. Prefer Do where you can.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) { return c.Do(req) }

func (c *Client) send(req *http.Request) (*http.Response, Outcome, error) {
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	resp, err := c.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, transportOutcome(parent), c.transportError(req, parent, ctx, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if c.cfg.Platform == apierror.PlatformTikTok {
			if pe, ok := c.peekTikTok(resp); ok {
				resp.Body.Close()
				cancel()
				return nil, Succeeded, c.platformError(req, resp, pe)
			}
		}
		resp.Body = &callBody{rc: resp.Body, cancel: cancel, c: c, req: req, parent: parent, ctx: ctx}
		return resp, Succeeded, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxErrorBody))
	resp.Body.Close()
	cancel()
	pe, ok := decodePlatformError(c.cfg.Platform, body)
	if !ok || pe.code == "" {
		pe.code = "http_" + strconv.Itoa(resp.StatusCode)
		if !ok || pe.message == "" {
			pe.message = statusText(resp.StatusCode)
		}
	}
	outcome := Succeeded
	if c.failures(resp.StatusCode) {
		outcome = Failed
	}
	return nil, outcome, c.platformError(req, resp, pe)
}

func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP " + strconv.Itoa(status)
}

// peekTikTok reads a small JSON 2xx body to find TikTok's error object, and
// puts what it read back in front of the body.
func (c *Client) peekTikTok(resp *http.Response) (platformError, bool) {
	if !strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "json") || resp.ContentLength > c.cfg.MaxErrorBody {
		return platformError{}, false
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxErrorBody+1))
	rest := resp.Body
	resp.Body = &readCloser{Reader: io.MultiReader(bytes.NewReader(head), rest), Closer: rest}
	if err != nil || int64(len(head)) > c.cfg.MaxErrorBody {
		return platformError{}, false
	}
	return tiktokBodyError(head)
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (c *Client) platformError(req *http.Request, resp *http.Response, pe platformError) *apierror.Error {
	secrets := requestSecrets(req)
	code := sanitizeMessage(pe.code, secrets, 100)
	msg := sanitizeMessage(pe.message, secrets, c.cfg.MaxMessageLength)
	wait, _ := retryWindow(c.cfg.Platform, resp.Header, c.clock.Now(), c.cfg.MaxRetryAfter)
	cause := &callError{platform: c.cfg.Platform, method: req.Method, url: RedactURL(req.URL.String()),
		status: resp.StatusCode, code: code, traceID: sanitizeMessage(pe.traceID, secrets, 100)}
	return apierror.PlatformError(c.cfg.Platform, code, msg, wait).WithCause(cause)
}

// transportOutcome judges a call that got no response: the caller's own
// deadline or cancellation says nothing about the platform.
func transportOutcome(parent context.Context) Outcome {
	if parent.Err() != nil {
		return Abandoned
	}
	return Failed
}

func (c *Client) transportError(req *http.Request, parent, ctx context.Context, err error) *apierror.Error {
	code, msg := CodeUnreachable, "The platform could not be reached."
	var nerr net.Error
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		code, msg = CodeCanceled, "The call to the platform was canceled."
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		code, msg = CodeTimeout, "The platform did not answer in time."
	}
	cause := &callError{platform: c.cfg.Platform, method: req.Method, url: RedactURL(req.URL.String()), code: code, err: scrubURLError(err)}
	return apierror.PlatformError(c.cfg.Platform, code, msg, 0).WithCause(cause)
}

// scrubURLError keeps a *url.Error (a Transport that is itself an
// http.Client) from carrying the full URL into our logs.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = RedactURL(ue.URL)
		return &c
	}
	return err
}

// callBody is a 2xx body: reading it is bounded by the call's Timeout, and
// a read that fails becomes PLATFORM_ERROR.
type callBody struct {
	rc          io.ReadCloser
	cancel      context.CancelFunc
	c           *Client
	req         *http.Request
	parent, ctx context.Context
}

func (b *callBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		return n, b.c.transportError(b.req, b.parent, b.ctx, err)
	}
	return n, err
}

func (b *callBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// callError is the cause of a Client's error: what we did and what the
// platform said, for our logs. It carries no query string and no header.
type callError struct {
	platform apierror.Platform
	method   string
	url      string
	status   int
	code     string
	traceID  string
	err      error
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString("upstream: ")
	b.WriteString(string(e.platform))
	b.WriteByte(' ')
	b.WriteString(e.method)
	b.WriteByte(' ')
	b.WriteString(e.url)
	if e.status != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.status))
	}
	b.WriteString(": ")
	b.WriteString(e.code)
	if e.traceID != "" {
		b.WriteString(" (platform trace ")
		b.WriteString(e.traceID)
		b.WriteByte(')')
	}
	if e.err != nil {
		b.WriteString(": ")
		b.WriteString(e.err.Error())
	}
	return b.String()
}

func (e *callError) Unwrap() error { return e.err }

// requestSecrets are the values of our request a platform might echo back:
// credentials in headers and every query value long enough to be a token.
func requestSecrets(req *http.Request) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 6 {
			out = append(out, v)
		}
	}
	for name, vs := range req.Header {
		n := strings.ToLower(name)
		if n == "authorization" || n == "cookie" || n == "proxy-authorization" ||
			strings.Contains(n, "token") || strings.Contains(n, "key") || strings.Contains(n, "secret") || strings.Contains(n, "signature") {
			for _, v := range vs {
				add(v)
				if _, cred, ok := strings.Cut(v, " "); ok {
					add(strings.TrimSpace(cred))
				}
			}
		}
	}
	if req.URL != nil {
		for _, vs := range req.URL.Query() {
			for _, v := range vs {
				add(v)
			}
		}
		if req.URL.User != nil {
			if pw, ok := req.URL.User.Password(); ok {
				add(pw)
			}
		}
	}
	// Longest first, so that a token containing another is replaced whole.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && len(out[j]) > len(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
