package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/layershq/errkit/apierror"
)

// Defaults of a zero Policy.
const (
	// DefaultMaxAttempts is the number of requests sent in all, the first
	// included: the contract's "small attempt cap".
	DefaultMaxAttempts = 3
	// DefaultMaxWait is the longest single wait. A server that asks for more
	// is not waited for: the error is returned at once.
	DefaultMaxWait = 60 * time.Second
	// DefaultBaseDelay is the first backoff step, before jitter.
	DefaultBaseDelay = 500 * time.Millisecond
	// DefaultMaxDelay caps a backoff step, before jitter.
	DefaultMaxDelay = 10 * time.Second
	// DefaultMaxBufferedBody is how much of a request body without GetBody is
	// buffered so that it can be replayed.
	DefaultMaxBufferedBody = 1 << 20
)

// Jitter is how a backoff step is randomised.
type Jitter int

const (
	// FullJitter waits a uniformly random duration in [0, step).
	FullJitter Jitter = iota
	// EqualJitter waits step/2 plus a uniformly random duration in [0, step/2).
	EqualJitter
)

// Policy holds the limits of a Transport. What to do about each error is not
// configured here: it comes from the apierror catalogue (Spec.Retry.Kind of
// the decoded code). A zero Policy uses every default.
type Policy struct {
	// MaxAttempts is the number of requests sent in all, the first included;
	// 0 or less means DefaultMaxAttempts, 1 disables retries.
	MaxAttempts int
	// MaxWait is the longest single wait; 0 or less means DefaultMaxWait. When
	// the server asks for a longer wait (Retry-After, retryAfterMs,
	// retryAfterSeconds), the Transport does not wait and returns the error at
	// once. Backoff steps are clamped to it instead.
	MaxWait time.Duration
	// BaseDelay is the first backoff step; 0 or less means DefaultBaseDelay.
	// Step k (from 0) is BaseDelay·2^k, capped at MaxDelay, then jittered.
	BaseDelay time.Duration
	// MaxDelay caps a backoff step; 0 or less means DefaultMaxDelay.
	MaxDelay time.Duration
	// Jitter randomises backoff steps; the zero value is FullJitter. Waits the
	// server names are never jittered.
	Jitter Jitter
	// Rand returns a uniformly random number in [0, 1) for jitter; nil means
	// math/rand/v2.Float64. Values outside [0, 1) are clamped.
	Rand func() float64
	// MaxBufferedBody is how many bytes of a request body without GetBody are
	// buffered for replay; 0 or less means DefaultMaxBufferedBody. A longer
	// body is sent once, streamed, and that request is not retried.
	MaxBufferedBody int64
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.MaxBufferedBody <= 0 {
		p.MaxBufferedBody = DefaultMaxBufferedBody
	}
	return p
}

// backoff returns the wait before backoff retry k (from 0).
func (p Policy) backoff(k int) time.Duration {
	step := p.MaxDelay
	if k < 62 {
		if s := p.BaseDelay << k; s > 0 && s>>k == p.BaseDelay && s < step {
			step = s
		}
	}
	r := p.Rand()
	if !(r >= 0) { // also NaN
		r = 0
	}
	if r >= 1 {
		r = 0.9999999999
	}
	var d time.Duration
	switch p.Jitter {
	case EqualJitter:
		d = step/2 + time.Duration(r*float64(step-step/2))
	default:
		d = time.Duration(r * float64(step))
	}
	return min(d, p.MaxWait)
}

// Decision is what the Transport did after an attempt.
type Decision int

const (
	// Done: the response is a success (status below 400); it is returned.
	Done Decision = iota
	// Retry: the attempt is retried after Attempt.Wait.
	Retry
	// Stop: the guidance says not to retry (a caller bug, a policy gate,
	// PLATFORM_ERROR without retryAfterMs, a non-idempotent request, a
	// cancelled context, a body that cannot be replayed); the outcome is
	// returned as is.
	Stop
	// GiveUp: the error is retryable but a limit was reached: the attempt
	// cap, a server-named wait longer than MaxWait, or PLATFORM_ERROR's
	// single retry already spent; the outcome is returned as is.
	GiveUp
)

// String returns "done", "retry", "stop" or "give-up".
func (d Decision) String() string {
	switch d {
	case Done:
		return "done"
	case Retry:
		return "retry"
	case Stop:
		return "stop"
	case GiveUp:
		return "give-up"
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// state is what the decision about one attempt depends on besides the
// outcome itself.
type state struct {
	n               int       // the attempt just made, from 1
	backoffs        int       // backoff retries made so far
	platformRetried bool      // PLATFORM_ERROR's single retry is spent
	inUseRetried    bool      // CONFLICT idempotency_key_in_use's single retry is spent
	safe            bool      // idempotent method or Idempotency-Key present
	replayable      bool      // the body can be sent again
	now             time.Time // for an HTTP-date Retry-After
}

// verdict is a decision with its wait and reason.
type verdict struct {
	decision Decision
	wait     time.Duration
	reason   string
	backoff  bool // the wait is a backoff step (consumes one)
	platform bool // the retry is PLATFORM_ERROR's single one
	inUse    bool // the retry is CONFLICT idempotency_key_in_use's single one
}

func stop(reason string) verdict   { return verdict{decision: Stop, reason: reason} }
func giveUp(reason string) verdict { return verdict{decision: GiveUp, reason: reason} }

// decideResponse decides about a response; decoded is apierror.DecodeResponse
// of it (nil below 400).
func (p Policy) decideResponse(st state, resp *http.Response, decoded error) verdict {
	if resp.StatusCode < 400 {
		return verdict{decision: Done, reason: "success"}
	}
	var v verdict
	switch e := decoded.(type) {
	case *apierror.Error:
		v = p.adviceFor(st, e, resp.Header)
	case *apierror.ResponseError:
		switch e.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if d, ok := apierror.ParseRetryAfter(resp.Header.Get("Retry-After"), st.now); ok {
				v = verdict{decision: Retry, wait: d, reason: fmt.Sprintf("HTTP %d without an error envelope: Retry-After", e.Status)}
			} else {
				v = p.backoffVerdict(st, fmt.Sprintf("HTTP %d without an error envelope: transient, backoff", e.Status))
			}
		default:
			return stop(fmt.Sprintf("HTTP %d without an error envelope is not retried", e.Status))
		}
	default:
		return stop("undecodable error response")
	}
	return p.limit(st, v)
}

// ReasonKeyInUse is details.reason of the CONFLICT a server answers while
// the first request with the same Idempotency-Key is still running (the
// value of idempotency.ReasonKeyInUse).
const ReasonKeyInUse = "idempotency_key_in_use"

// DefaultInUseWait is the wait before the retry of a CONFLICT
// idempotency_key_in_use that carries no Retry-After.
const DefaultInUseWait = time.Second

// adviceFor applies the catalogue's retry advice for e's code, except for
// CONFLICT idempotency_key_in_use: the first request with the same key may
// still be running (or just ended), so the request is sent once more, with
// the same key, after Retry-After, and replays or runs then.
func (p Policy) adviceFor(st state, e *apierror.Error, h http.Header) verdict {
	code := string(e.Code())
	if e.Code() == apierror.CodeConflict {
		if d, ok := apierror.DetailsAs[apierror.ConflictDetails](e); ok && d.Reason == ReasonKeyInUse {
			reason := code + " " + ReasonKeyInUse
			if st.inUseRetried {
				return giveUp(reason + ": already retried once with the same Idempotency-Key")
			}
			wait, ok := apierror.ParseRetryAfter(h.Get("Retry-After"), st.now)
			if !ok {
				wait = DefaultInUseWait
			}
			return verdict{decision: Retry, wait: wait, reason: reason + ": wait Retry-After, retry once with the same Idempotency-Key", inUse: true}
		}
	}
	switch kind := e.Spec().Retry.Kind; kind {
	case apierror.RetryHonorRetryAfter:
		if d, ok, src := rateLimitWait(e, h, st.now); ok {
			return verdict{decision: Retry, wait: d, reason: code + ": honour " + src + " exactly"}
		}
		return p.backoffVerdict(st, code+": no Retry-After or retryAfterMs, backoff")
	case apierror.RetryBackoff:
		return p.backoffVerdict(st, code+": backoff with jitter")
	case apierror.RetryHonorRetryAfterMsOnce:
		d, ok := retryAfterMs(e)
		if !ok {
			return stop(code + ": retryAfterMs is null, not retried")
		}
		if st.platformRetried {
			return giveUp(code + ": retryAfterMs already honoured once")
		}
		return verdict{decision: Retry, wait: d, reason: code + ": honour retryAfterMs once", platform: true}
	case apierror.RetryWaitAndProbe:
		if d, ok := e.RetryAfter(); ok && d > 0 {
			return verdict{decision: Retry, wait: d, reason: code + ": wait out the cooldown, then probe"}
		}
		if d, ok := apierror.ParseRetryAfter(h.Get("Retry-After"), st.now); ok {
			return verdict{decision: Retry, wait: d, reason: code + ": wait out Retry-After, then probe"}
		}
		return p.backoffVerdict(st, code+": no cooldown given, backoff")
	default:
		return stop(code + ": not retried (" + string(kind) + ")")
	}
}

// backoffVerdict is a backoff retry. Backoff resends a request the server
// may have acted on, so it needs an idempotent method or an Idempotency-Key.
func (p Policy) backoffVerdict(st state, reason string) verdict {
	if !st.safe {
		return stop(reason + "; not retried: method is not idempotent and there is no Idempotency-Key")
	}
	return verdict{decision: Retry, wait: p.backoff(st.backoffs), reason: reason, backoff: true}
}

// decideNetwork decides about an attempt that got no response.
func (p Policy) decideNetwork(st state, ctx context.Context, err error) verdict {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return stop("context ended")
	}
	if permanent(err) {
		return stop("network error that a retry cannot fix")
	}
	return p.limit(st, p.backoffVerdict(st, "network error: backoff"))
}

// limit turns a Retry into Stop or GiveUp when the request cannot be
// replayed, the attempts are spent or the wait is longer than MaxWait.
func (p Policy) limit(st state, v verdict) verdict {
	if v.decision != Retry {
		return v
	}
	switch {
	case !st.replayable:
		return stop(v.reason + "; not retried: the request body cannot be replayed")
	case st.n >= p.MaxAttempts:
		return giveUp(v.reason + fmt.Sprintf("; attempt cap %d reached", p.MaxAttempts))
	case v.wait > p.MaxWait:
		return giveUp(v.reason + fmt.Sprintf("; the wait %v is longer than MaxWait %v", v.wait, p.MaxWait))
	}
	return v
}

// permanent reports network errors a retry cannot fix: certificate errors.
func permanent(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		hn x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci)
}

// rateLimitWait is the wait RetryHonorRetryAfter advice names: details.retryAfterMs
// when it agrees with the Retry-After header to within a second (the header
// has whole seconds, so the milliseconds are the more precise of the two),
// the longer of the two when they disagree (never earlier than either asks),
// and whichever one is present otherwise.
func rateLimitWait(e *apierror.Error, h http.Header, now time.Time) (time.Duration, bool, string) {
	hd, hok := apierror.ParseRetryAfter(h.Get("Retry-After"), now)
	md, mok := retryAfterMs(e)
	switch {
	case hok && mok:
		if diff := hd - md; diff > -time.Second && diff < time.Second {
			return md, true, "details.retryAfterMs"
		}
		return max(hd, md), true, "the longer of Retry-After and details.retryAfterMs"
	case mok:
		return md, true, "details.retryAfterMs"
	case hok:
		return hd, true, "Retry-After"
	}
	return 0, false, ""
}

// maxWire bounds a wait read off the wire so that it cannot overflow; any
// such wait is far beyond every MaxWait.
const maxWire = 1 << 62

// retryAfterMs reads details.retryAfterMs of any code: false when it is
// absent, null, negative or not an integer.
func retryAfterMs(e *apierror.Error) (time.Duration, bool) {
	raw := e.RawDetails()
	if raw == nil {
		return 0, false
	}
	var d struct {
		RetryAfterMs json.RawMessage `json:"retryAfterMs"`
	}
	if json.Unmarshal(raw, &d) != nil || len(d.RetryAfterMs) == 0 {
		return 0, false
	}
	num := string(d.RetryAfterMs) // a JSON value: null, a string, a number, ...
	ms, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && num[0] != '-' {
			return maxWire, true
		}
		return 0, false
	}
	if ms < 0 {
		return 0, false
	}
	if ms > maxWire/int64(time.Millisecond) {
		return maxWire, true
	}
	return time.Duration(ms) * time.Millisecond, true
}
