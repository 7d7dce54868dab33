package main

import (
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

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

// authenticate is the service's authentication middleware: it verifies the
// API key and records the caller with principal.Set, which the rate limiter,
// the kill switch and the idempotency middleware read. A missing, malformed or
// unknown key is UNAUTHENTICATED; the key itself is never echoed or logged.
func authenticate(s *store) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			header := c.Request().Header.Get(echo.HeaderAuthorization)
			if header == "" {
				return apierror.Unauthenticated().WithMessage("The Authorization header is missing.")
			}
			secret, ok := bearerToken(header)
			if !ok {
				return apierror.Unauthenticated().WithMessage("The Authorization header must be \"Bearer <API key>\".")
			}
			p, ok := s.authenticate(secret)
			if !ok {
				return apierror.Unauthenticated().WithMessage("The API key is not valid.")
			}
			principal.Set(c, p)
			return next(c)
		}
	}
}

// requireScope answers FORBIDDEN_SCOPE with details.requiredScope unless the
// authenticated key was granted scope.
func requireScope(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p, _ := principal.From(c); !p.HasScope(scope) {
				return apierror.ForbiddenScope(scope)
			}
			return next(c)
		}
	}
}

// adminAuthorizer guards the operator API with a fixed bearer token, compared
// in constant time. Any failure is UNAUTHENTICATED.
func adminAuthorizer(token string) func(c echo.Context) (string, error) {
	return func(c echo.Context) (string, error) {
		got, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "", apierror.Unauthenticated()
		}
		return "admin", nil
	}
}
