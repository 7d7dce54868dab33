package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Error is the final error of a request sent by a Transport or a Client: the
// last attempt's error and how many requests were sent. Err is the decoded
// contract error (an *apierror.Error with its code, message, requestId and
// details, or an *apierror.ResponseError for a body that is not an
// envelope), the network error of an attempt that got no response, or the
// context's error; Unwrap exposes it, so errors.Is, errors.As,
// apierror.As and apierror.CodeOf see through an *Error.
//
// When the context ends during a wait, Err wraps both the context's error and
// the error that was being retried: errors.Is(err, context.Canceled) and
// apierror.CodeOf(err) (the retried code) both hold.
type Error struct {
	// Attempts is the number of requests sent (0 when none was).
	Attempts int
	// Err is the last error; never nil.
	Err error
}

// Error returns "retry: after N attempt(s): " followed by the last error.
func (e *Error) Error() string {
	s := "s"
	if e.Attempts == 1 {
		s = ""
	}
	return fmt.Sprintf("retry: after %d attempt%s: %v", e.Attempts, s, e.Err)
}

// Unwrap returns the last error.
func (e *Error) Unwrap() error { return e.Err }

// AttemptsOf returns the number of requests sent for err: the Attempts of the
// first *Error in its chain, and 0 when there is none.
func AttemptsOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Attempts
	}
	return 0
}

// Client sends requests with a Transport and turns error responses into
// errors: Do returns either a success response (status below 400) or a *Error
// carrying the decoded contract error, never both. The zero Client is ready to
// use with every default.
type Client struct {
	// Transport is the retry engine; nil means a Transport with every default
	// (http.DefaultTransport, default Policy, SystemClock).
	Transport *Transport
}

// Do sends req with ctx as its context, retrying as the contract's guidance
// says (see Transport). On a success it returns the response, whose body the
// caller closes. On an error response it drains and closes the body and
// returns a *Error whose Err is the decoded contract error; on a network
// error, or when ctx ends, a *Error wrapping it. req is not modified and its
// body is always closed. Redirects are not followed and no cookie jar is
// used: Do talks to the Transport directly.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	if req == nil {
		return nil, &Error{Err: errors.New("retry: nil request")}
	}
	if ctx == nil {
		ctx = req.Context()
	}
	t := c.Transport
	if t == nil {
		t = &Transport{}
	}
	o := t.run(req.WithContext(ctx))
	if o.resp == nil {
		return nil, &Error{Attempts: o.attempts, Err: o.err}
	}
	if o.resp.StatusCode < 400 {
		return o.resp, nil
	}
	drainClose(o.resp.Body)
	return nil, &Error{Attempts: o.attempts, Err: o.err}
}
