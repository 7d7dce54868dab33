package main

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/principal"
)

// bearerToken returns the token of an "Authorization: Bearer <token>" header
// value. The scheme is case-insensitive; the token is one non-empty word.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// authenticateRequest is the service's authentication: it verifies the API key and
// returns r with the caller recorded by principal.Set, which the rate
// limiter, the kill switch and the idempotency guard read. A missing,
// malformed or unknown key is UNAUTHENTICATED; the key itself is never
// echoed or logged. Each framework's wiring runs it as middleware and
// carries the returned request on.
func (s *store) authenticateRequest(r *http.Request) (*http.Request, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, apierror.Unauthenticated().WithMessage("The Authorization header is missing.")
	}
	secret, ok := bearerToken(header)
	if !ok {
		return nil, apierror.Unauthenticated().WithMessage("The Authorization header must be \"Bearer <API key>\".")
	}
	p, ok := s.authenticate(secret)
	if !ok {
		return nil, apierror.Unauthenticated().WithMessage("The API key is not valid.")
	}
	return principal.Set(r, p), nil
}

// adminAuthorizer guards the operator API with a fixed bearer token, compared
// in constant time. Any failure is UNAUTHENTICATED.
func adminAuthorizer(token string) func(r *http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "", apierror.Unauthenticated()
		}
		return "admin", nil
	}
}
