// Package bearer reads the bearer credential of a request
// ("Authorization: Bearer <token>", RFC 6750) and refuses every request whose
// credential is missing, malformed or ambiguous with UNAUTHENTICATED, before
// any lookup runs.
//
// A request has exactly one credential or it is refused:
//   - no Authorization header, or an empty one: missing;
//   - a scheme other than Bearer (compared case-insensitively), no token, a
//     token with characters outside RFC 6750's b64token
//     (ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "=" padding
//     only at the end), or anything after the token: malformed;
//   - two Authorization headers, or one whose value holds a comma (the way
//     a proxy joins duplicated headers): duplicated. Which one of two
//     credentials "wins" differs between proxies, frameworks and services;
//     refusing both leaves nothing to disagree about.
//
// The refusal names what is wrong in its message and never contains the
// token; its cause (logged, never rendered) is one of [ErrMissing],
// [ErrMalformed], [ErrDuplicated] or [ErrUnknown], for errors.Is.
//
// The package knows no framework: [Token] and [Authenticate] take an
// *http.Request, so net/http middleware, echo v4 and echo v5 call them
// with the request they hold (c.Request() in echo).
package bearer

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/principal"
)

// Header is the request header the credential is read from.
const Header = "Authorization"

// The causes of a refusal, for errors.Is on the returned error. Their text
// is logged, never rendered, and never contains the token.
var (
	// ErrMissing: no Authorization header, or an empty one.
	ErrMissing = errors.New("bearer: no credential (Authorization header missing or empty)")
	// ErrMalformed: the header is not exactly "Bearer <token>".
	ErrMalformed = errors.New("bearer: malformed credential (not \"Bearer <b64token>\")")
	// ErrDuplicated: more than one Authorization header, or a value that
	// joins several.
	ErrDuplicated = errors.New("bearer: more than one credential")
	// ErrUnknown: the token is well formed but names no caller.
	ErrUnknown = errors.New("bearer: unknown token")
)

// The messages of the refusals: fixed, so no part of the request is echoed.
const (
	msgMissing    = "The Authorization header is missing."
	msgMalformed  = "The Authorization header must be \"Bearer <API key>\"."
	msgDuplicated = "Send exactly one Authorization header with one credential."
	msgUnknown    = "The API key is not valid."
)

// errNilLookup is the cause of Authenticate's INTERNAL for a nil Lookup.
var errNilLookup = errors.New("bearer: Authenticate: nil Lookup")

func refuse(msg string, cause error) error {
	return apierror.Unauthenticated().WithMessage(msg).WithCause(cause)
}

// Token returns the bearer token of r. It returns UNAUTHENTICATED (an
// *apierror.Error whose cause is [ErrMissing], [ErrMalformed] or
// [ErrDuplicated]) when r does not carry exactly one well-formed bearer
// credential. The token is returned as sent; it is never part of an error.
func Token(r *http.Request) (string, error) {
	values := r.Header.Values(Header)
	switch len(values) {
	case 0:
		return "", refuse(msgMissing, ErrMissing)
	case 1:
		return Parse(values[0])
	default:
		return "", refuse(msgDuplicated, ErrDuplicated)
	}
}

// Parse returns the token of one Authorization header value, with the
// errors of [Token]. It is for callers that hold the value only; given a
// request, use Token, which also refuses a repeated header.
func Parse(value string) (string, error) {
	if value == "" {
		return "", refuse(msgMissing, ErrMissing)
	}
	if strings.IndexByte(value, ',') >= 0 {
		return "", refuse(msgDuplicated, ErrDuplicated)
	}
	scheme, rest, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", refuse(msgMalformed, ErrMalformed)
	}
	token := strings.TrimLeft(rest, " ") // credentials = auth-scheme 1*SP token68
	if !validToken(token) {
		return "", refuse(msgMalformed, ErrMalformed)
	}
	return token, nil
}

// validToken reports whether s is an RFC 6750 b64token:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validToken(s string) bool {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// Lookup resolves a well-formed token to its caller. It reports ok false
// for a token that names no caller (answered UNAUTHENTICATED), and returns
// an error only when it could not tell (its store failed): [Authenticate]
// returns that error as it is, unwrapped, so errors.Is and errors.As see
// exactly what the Lookup returned, and it renders INTERNAL unless it is
// (or wraps) an *apierror.Error. A Lookup should compare secrets in constant time (or
// look up a hash of the token) and must not log the token.
type Lookup func(ctx context.Context, token string) (p principal.Principal, ok bool, err error)

// Authenticate reads r's bearer token with [Token], resolves it with
// lookup and returns a copy of r carrying the caller (principal.Set), which
// the rate limiter, the kill switch and the idempotency guard read. A
// missing, malformed, duplicated or unknown credential is UNAUTHENTICATED;
// lookup is not called for the first three. On an error it returns r
// itself, so that `r, err = bearer.Authenticate(r, lookup)` leaves a request
// to render the error against. lookup's own error is returned as it is
// (see [Lookup]). A nil lookup is a programming mistake, answered INTERNAL
// for every request rather than a panic.
func Authenticate(r *http.Request, lookup Lookup) (*http.Request, error) {
	if lookup == nil {
		return r, apierror.Internal(errNilLookup)
	}
	token, err := Token(r)
	if err != nil {
		return r, err
	}
	p, ok, err := lookup(r.Context(), token)
	if err != nil {
		return r, err
	}
	if !ok {
		return r, refuse(msgUnknown, ErrUnknown)
	}
	return principal.Set(r, p), nil
}

// Match checks r's bearer token against one fixed secret (an operator
// token), in constant time. It returns nil when they are equal and
// UNAUTHENTICATED otherwise, with the errors of [Token] and [ErrUnknown]
// for a token that differs. An empty want matches nothing.
func Match(r *http.Request, want string) error {
	token, err := Token(r)
	if err != nil {
		return err
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return refuse(msgUnknown, ErrUnknown)
	}
	return nil
}
