package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// body returns the exact envelope expected for code with id, its catalogue
// message unless msg is given, and details (raw JSON, "" for none).
func body(code apierror.Code, id, details string, msg ...string) string {
	spec, _ := apierror.Lookup(code)
	m := spec.Message
	if len(msg) > 0 {
		m = msg[0]
	}
	s := fmt.Sprintf(`{"error":{"code":%q,"message":%q,"requestId":%q`, code, m, id)
	if details != "" {
		s += `,"details":` + details
	}
	return s + "}}"
}

type bindTarget struct {
	N    int    `json:"n" query:"n"`
	Name string `json:"name"`
}

// TestEchoErrorMapping has at least one case per row of the mapping table,
// httperror.Mapping() (the README's table is generated from it), each
// raised the way echo (or the named middleware) really raises it.
func TestEchoErrorMapping(t *testing.T) {
	jsonPost := func(string) []string { return []string{echo.HeaderContentType, echo.MIMEApplicationJSON} }
	bind := func(c echo.Context) error {
		var v bindTarget
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, v)
	}

	type tc struct {
		row     string // the Error column of the httperror.Mapping() row
		name    string
		setup   func(e *echo.Echo, cfg *Config) // routes
		cfg     Config
		method  string
		target  string
		body    string
		hdr     []string
		status  int
		code    apierror.Code
		details string // exact details JSON, "" for none
		msg     string // expected message when not the catalogue's
		check   func(t *testing.T, h http.Header)
	}
	route := func(h echo.HandlerFunc) func(e *echo.Echo, _ *Config) {
		return func(e *echo.Echo, _ *Config) { e.Any("/x", h) }
	}
	cases := []tc{
		{row: rowPanic, name: "PanicError", setup: route(func(echo.Context) error { panic(apierror.NotFound()) }),
			status: 500, code: apierror.CodeInternal},
		{row: rowAPI, name: "apierror in the chain", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusInternalServerError).SetInternal(fmt.Errorf("lookup: %w", apierror.Conflict("already_approved")))
		}), status: 409, code: apierror.CodeConflict, details: `{"reason":"already_approved"}`},
		{row: rowMaxBytes, name: "http.MaxBytesError from errkit BodyLimit while binding",
			setup:  func(e *echo.Echo, _ *Config) { e.POST("/x", bind, BodyLimit(8)) },
			method: http.MethodPost, body: `{"name":"far too long for eight bytes"}`, hdr: jsonPost(""),
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":8}`},
		{row: rowMaxBytes, name: "http.MaxBytesError from the handler's own MaxBytesReader", setup: route(func(c echo.Context) error {
			_, err := io.ReadAll(http.MaxBytesReader(c.Response().Writer, c.Request().Body, 4))
			return fmt.Errorf("reading upload: %w", err)
		}), method: http.MethodPost, body: "0123456789", status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":4}`},
		{row: rowField, name: "echo.BindingError", setup: route(func(c echo.Context) error {
			var n int
			return echo.QueryParamsBinder(c).MustInt("limit", &n).BindError()
		}), target: "/x?limit=abc", status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"limit","message":"has an invalid value."}]}`},
		{row: row400, name: "bind: json.SyntaxError", setup: route(bind), method: http.MethodPost, body: `{"n":1,}`, hdr: jsonPost(""),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"body","message":"The body is not valid JSON (syntax error at byte offset 8)."}]}`},
		{row: row400, name: "bind: json.UnmarshalTypeError", setup: route(bind), method: http.MethodPost, body: `{"n":"seven"}`, hdr: jsonPost(""),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"n","message":"must be an integer, got string."}]}`},
		{row: row400, name: "bind: truncated body", setup: route(bind), method: http.MethodPost, body: `{"n":1`, hdr: jsonPost(""),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"body","message":"The body is not valid JSON (it ends too early)."}]}`},
		{row: row400, name: "bind: unknown field", setup: func(e *echo.Echo, _ *Config) {
			e.JSONSerializer = strictJSON{}
			e.POST("/x", bind)
		}, method: http.MethodPost, body: `{"nope":1}`, hdr: jsonPost(""), status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"nope","message":"is not a known field."}]}`},
		{row: row400, name: "400 with another internal error (query binding)", setup: route(func(c echo.Context) error {
			var v bindTarget
			return (&echo.DefaultBinder{}).BindQueryParams(c, &v)
		}), target: "/x?n=abc", status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"The request could not be parsed."}]}`},
		{row: row400, name: "400 missing key (echo KeyAuth)", setup: func(e *echo.Echo, _ *Config) {
			e.GET("/x", okHandler, echomw.KeyAuth(func(string, echo.Context) (bool, error) { return true, nil }))
		}, status: 401, code: apierror.CodeUnauthenticated},
		{row: row400, name: "400 without internal error", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusBadRequest, "cursor is required")
		}), status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"cursor is required"}]}`},
		{row: row400, name: "400 without internal error, unprintable message", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusBadRequest, "bad\r\nX-Injected: 1")
		}), status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"The request is malformed."}]}`},
		{row: row401, name: "401 echo-jwt style", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusUnauthorized, "invalid or expired jwt").SetInternal(errors.New("token has invalid claims: token is expired"))
		}), status: 401, code: apierror.CodeUnauthenticated},
		{row: row401, name: "401 echo KeyAuth invalid key", setup: func(e *echo.Echo, _ *Config) {
			e.GET("/x", okHandler, echomw.KeyAuth(func(string, echo.Context) (bool, error) { return false, nil }))
		}, hdr: []string{"Authorization", "Bearer lp_wrong"}, status: 401, code: apierror.CodeUnauthenticated},
		{row: row403, name: "403", setup: route(func(echo.Context) error { return echo.ErrForbidden }),
			status: 401, code: apierror.CodeUnauthenticated},
		{row: row404, name: "404 router: no route", setup: route(okHandler), target: "/missing",
			status: 404, code: apierror.CodeNotFound},
		{row: row410, name: "410", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusGone) }),
			status: 404, code: apierror.CodeNotFound},
		{row: row405, name: "405 router: method not allowed", setup: func(e *echo.Echo, _ *Config) { e.GET("/x", okHandler) },
			method: http.MethodDelete, status: 404, code: apierror.CodeNotFound,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "OPTIONS, GET", h.Get("Allow")) }},
		{row: row411, name: "411", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusLengthRequired) }),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"header:Content-Length","message":"Content-Length is required."}]}`},
		{row: row413, name: "413 echo BodyLimit with MaxBodyBytes", cfg: Config{ErrorHandler: ErrorHandlerConfig{MaxBodyBytes: 10}},
			setup:  func(e *echo.Echo, _ *Config) { e.POST("/x", bind, echomw.BodyLimit("10B")) },
			method: http.MethodPost, body: strings.Repeat("x", 11), status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":10}`},
		{row: row413, name: "413 echo BodyLimit without MaxBodyBytes",
			setup:  func(e *echo.Echo, _ *Config) { e.POST("/x", bind, echomw.BodyLimit("10B")) },
			method: http.MethodPost, body: strings.Repeat("x", 11), status: 413, code: apierror.CodePayloadTooLarge},
		{row: row414, name: "414", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusRequestURITooLong) }),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"url","message":"The request URL is too long."}]}`},
		{row: row415, name: "415 bind: unsupported media type", setup: route(bind), method: http.MethodPost, body: "n=1",
			hdr: []string{echo.HeaderContentType, "text/plain"}, status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}`},
		{row: row422, name: "422", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, "end must be after start")
		}), status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"end must be after start"}]}`},
		{row: row429, name: "429 echo RateLimiter", setup: func(e *echo.Echo, _ *Config) {
			store := echomw.NewRateLimiterMemoryStoreWithConfig(echomw.RateLimiterMemoryStoreConfig{Rate: rate.Every(time.Hour), Burst: 1})
			e.GET("/x", okHandler, echomw.RateLimiter(store))
		}, status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":1000}`,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "1", h.Get("Retry-After")) }},
		{row: row429, name: "429 with a Retry-After set earlier", setup: route(func(c echo.Context) error {
			c.Response().Header().Set("Retry-After", "7")
			c.Response().Header().Set("RateLimit-Remaining", "0")
			return echo.ErrTooManyRequests
		}), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":7000}`,
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, "7", h.Get("Retry-After"))
				assert.Equal(t, "0", h.Get("RateLimit-Remaining"))
			}},
		{row: row431, name: "431", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusRequestHeaderFieldsTooLarge) }),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"header","message":"The request headers are too large."}]}`},
		{row: row5xx, name: "5xx", setup: route(func(echo.Context) error { return echo.ErrServiceUnavailable }),
			status: 500, code: apierror.CodeInternal},
		{row: row5xx, name: "5xx with internal error", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusBadGateway, "upstream").SetInternal(errors.New("dial tcp 10.0.0.7:5432"))
		}), status: 500, code: apierror.CodeInternal},
		{row: row409, name: "409", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusConflict, "dup") }),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"conflict"}`},
		{row: row408, name: "408 is retryable", setup: route(func(echo.Context) error { return echo.ErrRequestTimeout }),
			status: 500, code: apierror.CodeInternal},
		{row: row425, name: "425 is retryable", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusTooEarly) }),
			status: 500, code: apierror.CodeInternal},
		{row: rowOther4xx, name: "other 4xx with message", setup: route(func(echo.Context) error { return echo.NewHTTPError(http.StatusNotAcceptable, "Only application/json.") }),
			status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"Only application/json."}]}`},
		{row: rowOther4xx, name: "other 4xx with internal error", setup: route(func(echo.Context) error {
			return echo.NewHTTPError(http.StatusPaymentRequired).SetInternal(errors.New("wallet w_1 empty"))
		}), status: 422, code: apierror.CodeValidation,
			details: `{"issues":[{"path":"request","message":"Payment Required."}]}`},
		{row: rowOtherwise, name: "any other error", setup: route(func(echo.Context) error { return errCanceledQuery }),
			status: 500, code: apierror.CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, c.cfg)
			c.setup(e, &c.cfg)
			method, target := c.method, c.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = "/x"
			}
			var rd io.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			if c.name == "429 echo RateLimiter" {
				require.Equal(t, http.StatusOK, do(e, method, target, nil).Code) // uses the one token
			}
			rec := do(e, method, target, rd, c.hdr...)
			env := requireEnvelope(t, rec, c.status, string(c.code))
			msg := []string{}
			if c.msg != "" {
				msg = append(msg, c.msg)
			}
			assert.Equal(t, body(c.code, env.Error.RequestID, c.details, msg...), rec.Body.String())
			if c.check != nil {
				c.check(t, rec.Header())
			}
		})
	}

	// Every row of the table has a case raised by echo, and every case
	// names a row the table has.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.row] = true
	}
	rows := map[string]bool{}
	for _, r := range httperror.Mapping() {
		rows[r.Error] = true
		assert.True(t, covered[r.Error], "row %q has no echo case", r.Error)
	}
	for row := range covered {
		assert.True(t, rows[row], "a case names row %q, which httperror.Mapping() does not have", row)
	}
}

// Rows of httperror.Mapping(), by their Error column.
const (
	rowPanic     = "`*httperror.PanicError` (a recovered panic)"
	rowAPI       = "`*apierror.Error` anywhere in the chain"
	rowMaxBytes  = "`*http.MaxBytesError` (`LimitBody`, `http.MaxBytesReader`)"
	rowField     = "a parameter that failed to bind (`StatusError.Field`; echo's `BindingError`)"
	row400       = "400 (bind and decode errors)"
	row401       = "401 (echo-jwt, KeyAuth, BasicAuth)"
	row403       = "403 (CSRF, IP filters)"
	row404       = "404 (router: no route)"
	row405       = "405 (router: method not allowed)"
	row409       = "409"
	row410       = "410"
	row411       = "411"
	row413       = "413 (a framework's body limit)"
	row414       = "414"
	row415       = "415 (bind: unsupported media type)"
	row422       = "422"
	row429       = "429 (a framework's rate limiter)"
	row431       = "431"
	row408       = "408 (the same request may succeed later)"
	row425       = "425 (the same request may succeed later)"
	rowOther4xx  = "any other 4xx (402, 406, 412, ...)"
	row5xx       = "5xx, or any status outside 400-599"
	rowOtherwise = "any other error"
)

var errCanceledQuery = fmt.Errorf("query: %w", errors.New("context canceled"))

func okHandler(c echo.Context) error { return c.String(http.StatusOK, "ok") }

// strictJSON is a JSONSerializer that rejects unknown fields.
type strictJSON struct{ echo.DefaultJSONSerializer }

func (strictJSON) Deserialize(c echo.Context, i any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	return dec.Decode(i)
}
