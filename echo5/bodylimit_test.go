package echo5

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// TestBodyLimit: a body over the limit is PAYLOAD_TOO_LARGE with
// details.maxBytes, whether Content-Length announces it (before the handler
// runs) or the handler reads past the limit; a body at the limit and a
// skipped request pass.
func TestBodyLimit(t *testing.T) {
	e, _ := newEcho(t, Config{})
	var handled int
	read := func(c *echo.Context) error {
		handled++
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	}
	e.POST("/x", read, BodyLimit(8))
	e.POST("/skip", read, BodyLimitWithConfig(BodyLimitConfig{MaxBytes: 8, Skipper: func(*echo.Context) bool { return true }}))

	cases := []struct {
		name    string
		target  string
		body    string
		chunked bool // no Content-Length
		status  int
		handled int // handler runs
	}{
		{"announced over the limit", "/x", "123456789", false, 413, 0},
		{"read past the limit", "/x", "123456789", true, 413, 1},
		{"at the limit", "/x", "12345678", false, 200, 1},
		{"at the limit, chunked", "/x", "12345678", true, 200, 1},
		{"empty", "/x", "", false, 200, 1},
		{"skipped", "/skip", "123456789", false, 200, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			handled = 0
			req := httptest.NewRequest(http.MethodPost, c.target, strings.NewReader(c.body))
			if c.chunked {
				req.ContentLength = -1
			}
			rec := serve(e, req)
			assert.Equal(t, c.handled, handled)
			if c.status != 200 {
				env := requireEnvelope(t, rec, c.status, "PAYLOAD_TOO_LARGE")
				assert.Equal(t, body(apierror.CodePayloadTooLarge, env.Error.RequestID, `{"maxBytes":8}`), rec.Body.String())
				return
			}
			require.Equal(t, 200, rec.Code)
			assert.Equal(t, c.body, rec.Body.String())
		})
	}
}
