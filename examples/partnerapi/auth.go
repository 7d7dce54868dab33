package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// authenticator is the service's authentication: errkit's bearer
// extractor over the store's keys, behind the failed-authentication
// throttle.
type authenticator struct {
	store    *store
	throttle *ratelimit.Throttle
}

// lookup resolves an API key through the store, which keys the table by
// SHA-256, so no secret is compared and the key is never logged.
func (s *store) lookup(_ context.Context, token string) (principal.Principal, bool, error) {
	p, ok := s.authenticate(token)
	return p, ok, nil
}

// authenticate verifies the API key and returns r with the caller recorded
// by principal.Set, which the rate limiter, the kill switch and the
// idempotency guard read. A missing, malformed, duplicated or unknown key is
// UNAUTHENTICATED (bearer.Authenticate); the key itself is never echoed or
// logged. Each framework's wiring runs it as middleware, with h the
// response's header, and carries the returned request on.
//
// Failed attempts are counted per client IP: once a client has spent its
// failure budget, every request it sends, a right key included, is
// RATE_LIMITED with Retry-After until the budget refills, so guessing keys
// gets nowhere. A caller that never fails is never counted.
func (a *authenticator) authenticate(h http.Header, r *http.Request) (*http.Request, error) {
	if err := a.throttle.Check(h, r); err != nil {
		return r, err
	}
	authed, err := bearer.Authenticate(r, a.store.lookup)
	if err != nil {
		if terr := a.throttle.Fail(h, r); terr != nil {
			return r, terr
		}
		return r, err
	}
	a.throttle.Done(authed) // authenticated: its attempt ends now, not with the request
	return authed, nil
}

// adminAuthorizer guards the operator API with a fixed bearer token
// (bearer.Match: exactly one well-formed credential, compared in constant
// time), behind the same failed-authentication throttle as the API keys:
// a client's failures at either count against one budget. Any refusal is
// UNAUTHENTICATED, or RATE_LIMITED once the budget is spent. The
// operator API's own Authorize has no response header to write to;
// Retry-After comes from the error, which the error writer renders.
func adminAuthorizer(token string, throttle *ratelimit.Throttle) func(r *http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		h := http.Header{}
		if err := throttle.Check(h, r); err != nil {
			return "", err
		}
		if err := bearer.Match(r, token); err != nil {
			if terr := throttle.Fail(h, r); terr != nil {
				return "", terr
			}
			return "", err
		}
		throttle.Done(r)
		return "admin", nil
	}
}

// newAdminToken returns a fresh operator token: "admin_" and 128 random
// bits in hex, within bearer's token alphabet.
func newAdminToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return "admin_" + hex.EncodeToString(b[:]), nil
}
