package echo5

import (
	"github.com/labstack/echo/v5"

	"github.com/layershq/errkit/principal"
)

// SetPrincipal records p as the caller of c's request, for errkit's rate
// limiter, kill switch and idempotency middleware (which read it with
// principal.KeyID and principal.OrganizationID). It replaces c's request
// with principal.Set's copy; contexts derived before the call do not see p.
func SetPrincipal(c *echo.Context, p principal.Principal) {
	c.SetRequest(principal.Set(c.Request(), p))
}

// PrincipalFrom returns the caller recorded for c's request, and false when
// the request was not authenticated.
func PrincipalFrom(c *echo.Context) (principal.Principal, bool) {
	return principal.From(c.Request())
}
