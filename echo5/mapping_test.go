package echo5

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

type bindTarget struct {
	N    int    `json:"n" query:"n"`
	Name string `json:"name"`
}

// bindHandler binds the request into a bindTarget and echoes it.
func bindHandler(c *echo.Context) error {
	var v bindTarget
	if err := c.Bind(&v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// strictJSON is an echo v5 JSONSerializer that rejects unknown fields.
type strictJSON struct{ echo.DefaultJSONSerializer }

func (strictJSON) Deserialize(c *echo.Context, i any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(i); err != nil {
		return echo.ErrBadRequest.Wrap(err)
	}
	return nil
}

// mapRow returns the Error column of the one row of httperror.Mapping()
// that key names: the row starting with key (a status, "any other 4xx"),
// or, for a longer key, containing it (a type name). It fails the test
// unless exactly one row matches, so a renamed row is reported here.
func mapRow(t *testing.T, key string) string {
	t.Helper()
	var found []string
	for _, r := range httperror.Mapping() {
		if strings.HasPrefix(r.Error, key) || (len(key) > 3 && strings.Contains(r.Error, key)) {
			found = append(found, r.Error)
		}
	}
	require.Len(t, found, 1, "rows of httperror.Mapping() that %q names", key)
	return found[0]
}

// TestEchoV5ErrorMapping has at least one case per row of the mapping
// table, httperror.Mapping(), and one per echo v5 error errkit can meet,
// each raised the way echo v5 (or the named middleware) really raises it:
// its predefined errors (unexported values implementing only StatusCode),
// HTTPError with and without a wrapped error, BindingError, c.Bind's JSON
// errors and echo's Recover's PanicStackError. Each asserts the exact
// envelope.
func TestEchoV5ErrorMapping(t *testing.T) {
	jsonHdr := []string{echo.HeaderContentType, echo.MIMEApplicationJSON}
	type tc struct {
		row     string // a key of mapRow
		name    string
		setup   func(e *echo.Echo) // routes
		cfg     Config
		method  string
		target  string
		body    string
		hdr     []string
		warmup  int // requests sent first (to use up a bucket)
		status  int
		code    apierror.Code
		details string          // exact details JSON, "" for none
		want    *apierror.Error // the exact error, when its message is not the catalogue's
		check   func(t *testing.T, h http.Header)
	}
	route := func(h echo.HandlerFunc, mw ...echo.MiddlewareFunc) func(e *echo.Echo) {
		return func(e *echo.Echo) { e.Any("/x", h, mw...) }
	}
	returns := func(err error) func(e *echo.Echo) {
		return route(func(*echo.Context) error { return err })
	}
	issue := func(path, msg string) string {
		b, _ := json.Marshal(struct {
			Issues []apierror.Issue `json:"issues"`
		}{[]apierror.Issue{{Path: path, Message: msg}}})
		return string(b)
	}
	echoRecover := middleware.Recover()
	cases := []tc{
		// Recovered panics: errkit's and echo's own Recover.
		{row: "PanicError", name: "errkit Recover: panic with an apierror", setup: route(func(*echo.Context) error { panic(apierror.NotFound()) }),
			status: 500, code: apierror.CodeInternal},
		{row: "PanicError", name: "echo Recover: PanicStackError of an apierror", setup: route(func(*echo.Context) error { panic(apierror.NotFound()) }, echoRecover),
			status: 500, code: apierror.CodeInternal},
		{row: "PanicError", name: "echo Recover: PanicStackError of a string", setup: route(func(*echo.Context) error { panic("boom") }, echoRecover),
			status: 500, code: apierror.CodeInternal},
		{row: "PanicError", name: "echo Recover: PanicStackError of a nil map write", setup: route(func(*echo.Context) error {
			var m map[string]int
			m["x"]++
			return nil
		}, middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true})), status: 500, code: apierror.CodeInternal},

		{row: "apierror.Error", name: "apierror wrapped by an HTTPError", setup: returns(
			echo.NewHTTPError(http.StatusInternalServerError, "x").Wrap(fmt.Errorf("lookup: %w", apierror.Conflict("already_approved")))),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"already_approved"}`},
		{row: "apierror.Error", name: "apierror implements StatusCode but keeps its code", setup: returns(fmt.Errorf("guard: %w", apierror.KillSwitch(apierror.ScopeOrganization))),
			status: 503, code: apierror.CodeKillSwitch, want: apierror.KillSwitch(apierror.ScopeOrganization)},

		{row: "MaxBytesError", name: "errkit BodyLimit while c.Bind reads", setup: func(e *echo.Echo) { e.POST("/x", bindHandler, BodyLimit(8)) },
			method: http.MethodPost, body: `{"name":"far too long for eight bytes"}`, hdr: jsonHdr, warmup: -1,
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":8}`},
		{row: "MaxBytesError", name: "the handler's own MaxBytesReader", setup: route(func(c *echo.Context) error {
			_, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, 4))
			return fmt.Errorf("reading upload: %w", err)
		}), method: http.MethodPost, body: "0123456789", status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":4}`},

		{row: "failed to bind", name: "BindingError from ValueBinder", setup: route(func(c *echo.Context) error {
			var n int
			return echo.QueryParamsBinder(c).MustInt("limit", &n).BindError()
		}), target: "/x?limit=abc", status: 422, code: apierror.CodeValidation, details: issue("limit", "has an invalid value.")},
		{row: "failed to bind", name: "BindingError from echo.QueryParam[int]", setup: route(func(c *echo.Context) error {
			_, err := echo.QueryParam[int](c, "page")
			return err
		}), target: "/x?page=two", status: 422, code: apierror.CodeValidation, details: issue("page", "has an invalid value.")},
		{row: "failed to bind", name: "BindingError from echo.PathParam[int]", setup: func(e *echo.Echo) {
			e.GET("/x/:id", func(c *echo.Context) error { _, err := echo.PathParam[int](c, "id"); return err })
		}, target: "/x/abc", status: 422, code: apierror.CodeValidation, details: issue("id", "has an invalid value.")},

		{row: "400", name: "bind: JSON syntax error", setup: route(bindHandler), method: http.MethodPost, body: `{"n":1,}`, hdr: jsonHdr,
			status: 422, code: apierror.CodeValidation, details: issue("body", "The body is not valid JSON (syntax error at byte offset 8).")},
		{row: "400", name: "bind: JSON type error", setup: route(bindHandler), method: http.MethodPost, body: `{"n":"seven"}`, hdr: jsonHdr,
			status: 422, code: apierror.CodeValidation, details: issue("n", "must be an integer, got string.")},
		{row: "400", name: "bind: truncated JSON (json.Unmarshal's syntax error)", setup: route(bindHandler), method: http.MethodPost, body: `{"n":1`, hdr: jsonHdr,
			status: 422, code: apierror.CodeValidation, details: issue("body", "The body is not valid JSON (syntax error at byte offset 6).")},
		{row: "400", name: "bind: unknown field (strict serializer)", setup: func(e *echo.Echo) {
			e.JSONSerializer = strictJSON{}
			e.POST("/x", bindHandler)
		}, method: http.MethodPost, body: `{"nope":1}`, hdr: jsonHdr, status: 422, code: apierror.CodeValidation, details: issue("nope", "is not a known field.")},
		{row: "400", name: "bind: truncated JSON (decoder's unexpected EOF)", setup: func(e *echo.Echo) {
			e.JSONSerializer = strictJSON{}
			e.POST("/x", bindHandler)
		}, method: http.MethodPost, body: `{"n":1`, hdr: jsonHdr, status: 422, code: apierror.CodeValidation,
			details: issue("body", "The body is not valid JSON (it ends too early).")},
		{row: "400", name: "query binding (ErrBadRequest.Wrap of a parse error)", setup: route(func(c *echo.Context) error {
			var v bindTarget
			return echo.BindQueryParams(c, &v)
		}), target: "/x?n=abc", status: 422, code: apierror.CodeValidation, details: issue("request", "The request could not be parsed.")},
		{row: "400", name: "echo.ErrBadRequest", setup: returns(echo.ErrBadRequest),
			status: 422, code: apierror.CodeValidation, details: issue("request", "Bad Request")},
		{row: "400", name: "wrapped echo.ErrBadRequest", setup: returns(fmt.Errorf("decoding cursor: %w", echo.ErrBadRequest)),
			status: 422, code: apierror.CodeValidation, details: issue("request", "Bad Request")},
		{row: "400", name: "HTTPError without a wrapped error", setup: returns(echo.NewHTTPError(http.StatusBadRequest, "cursor is required")),
			status: 422, code: apierror.CodeValidation, details: issue("request", "cursor is required")},
		{row: "400", name: "HTTPError with an unprintable message", setup: returns(echo.NewHTTPError(http.StatusBadRequest, "bad\r\nX-Injected: 1")),
			status: 422, code: apierror.CodeValidation, details: issue("request", "The request is malformed.")},
		{row: "400", name: "HTTPError with a wrapped error: its message is not reused", setup: returns(
			echo.NewHTTPError(http.StatusBadRequest, "config parse failed").Wrap(errors.New("yaml: line 3"))),
			status: 422, code: apierror.CodeValidation, details: issue("request", "The request could not be parsed.")},

		{row: "401", name: "echo.ErrUnauthorized", setup: returns(echo.ErrUnauthorized), status: 401, code: apierror.CodeUnauthenticated},
		{row: "401", name: "echo-jwt style HTTPError with a wrapped error", setup: returns(
			echo.NewHTTPError(http.StatusUnauthorized, "invalid or expired jwt").Wrap(errors.New("token is expired"))),
			status: 401, code: apierror.CodeUnauthenticated},
		{row: "401", name: "echo KeyAuth: missing key", setup: func(e *echo.Echo) {
			e.GET("/x", okHandler, middleware.KeyAuth(func(*echo.Context, string, middleware.ExtractorSource) (bool, error) { return true, nil }))
		}, status: 401, code: apierror.CodeUnauthenticated},
		{row: "401", name: "echo KeyAuth: invalid key", setup: func(e *echo.Echo) {
			e.GET("/x", okHandler, middleware.KeyAuth(func(*echo.Context, string, middleware.ExtractorSource) (bool, error) { return false, nil }))
		}, hdr: []string{"Authorization", "Bearer lp_wrong"}, status: 401, code: apierror.CodeUnauthenticated},

		{row: "403", name: "echo.ErrForbidden", setup: returns(echo.ErrForbidden), status: 401, code: apierror.CodeUnauthenticated},
		{row: "403", name: "echo RateLimiter: identifier extractor failed", setup: func(e *echo.Echo) {
			e.GET("/x", okHandler, middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
				Store:               middleware.NewRateLimiterMemoryStore(10),
				IdentifierExtractor: func(*echo.Context) (string, error) { return "", errors.New("no key") },
			}))
		}, status: 401, code: apierror.CodeUnauthenticated},

		{row: "404", name: "router: no route (echo.ErrNotFound)", setup: route(okHandler), target: "/missing", status: 404, code: apierror.CodeNotFound},
		{row: "404", name: "echo.ErrNotFound returned by a handler", setup: returns(echo.ErrNotFound), status: 404, code: apierror.CodeNotFound},
		{row: "404", name: "wrapped echo.ErrNotFound (not a 500: labstack/echo#3063)", setup: returns(fmt.Errorf("project p_1: %w", echo.ErrNotFound)),
			status: 404, code: apierror.CodeNotFound},
		{row: "404", name: "joined echo.ErrNotFound", setup: returns(errors.Join(errors.New("x"), echo.ErrNotFound)), status: 404, code: apierror.CodeNotFound},
		{row: "404", name: "group with middleware: its 404 route", setup: func(e *echo.Echo) {
			g := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
			g.GET("/items", okHandler)
		}, target: "/api/nowhere", status: 404, code: apierror.CodeNotFound,
			check: func(t *testing.T, h http.Header) { assert.Empty(t, h.Values("Allow"), "nothing is served at the path") }},

		{row: "405", name: "router: method not allowed (echo.ErrMethodNotAllowed)", setup: func(e *echo.Echo) { e.GET("/x", okHandler) },
			method: http.MethodDelete, status: 404, code: apierror.CodeNotFound,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "OPTIONS, GET", h.Get("Allow")) }},
		{row: "405", name: "echo.ErrMethodNotAllowed returned by a handler", setup: returns(echo.ErrMethodNotAllowed), status: 404, code: apierror.CodeNotFound},
		{row: "405", name: "group with middleware: its 404 route answers a 405, Allow restored", setup: func(e *echo.Echo) {
			g := e.Group("/api", func(next echo.HandlerFunc) echo.HandlerFunc { return next })
			g.GET("/items", okHandler)
			g.POST("/items", okHandler)
		}, method: http.MethodPut, target: "/api/items", status: 404, code: apierror.CodeNotFound,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, []string{"OPTIONS, GET, POST"}, h.Values("Allow")) }},

		{row: "409", name: "HTTPError 409", setup: returns(echo.NewHTTPError(http.StatusConflict, "dup")),
			status: 409, code: apierror.CodeConflict, details: `{"reason":"conflict"}`},
		{row: "410", name: "HTTPError 410", setup: returns(echo.NewHTTPError(http.StatusGone, "")), status: 404, code: apierror.CodeNotFound},
		{row: "411", name: "HTTPError 411", setup: returns(echo.NewHTTPError(http.StatusLengthRequired, "")),
			status: 422, code: apierror.CodeValidation, details: issue("header:Content-Length", "Content-Length is required.")},

		{row: "413", name: "echo BodyLimit, MaxBodyBytes set", cfg: Config{ErrorHandler: ErrorHandlerConfig{MaxBodyBytes: 10}},
			setup: func(e *echo.Echo) { e.POST("/x", bindHandler, middleware.BodyLimit(10)) }, method: http.MethodPost, body: strings.Repeat("x", 11),
			status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":10}`},
		{row: "413", name: "echo BodyLimit, MaxBodyBytes unset", setup: func(e *echo.Echo) { e.POST("/x", bindHandler, middleware.BodyLimit(10)) },
			method: http.MethodPost, body: strings.Repeat("x", 11), status: 413, code: apierror.CodePayloadTooLarge},
		{row: "413", name: "echo BodyLimit while c.Bind reads a chunked body", cfg: Config{ErrorHandler: ErrorHandlerConfig{MaxBodyBytes: 10}},
			setup: func(e *echo.Echo) { e.POST("/x", bindHandler, middleware.BodyLimit(10)) }, method: http.MethodPost,
			body: `{"name":"more than ten bytes"}`, hdr: jsonHdr, warmup: -1, status: 413, code: apierror.CodePayloadTooLarge, details: `{"maxBytes":10}`},
		{row: "413", name: "echo.ErrStatusRequestEntityTooLarge returned", setup: returns(echo.ErrStatusRequestEntityTooLarge),
			status: 413, code: apierror.CodePayloadTooLarge},

		{row: "414", name: "HTTPError 414", setup: returns(echo.NewHTTPError(http.StatusRequestURITooLong, "")),
			status: 422, code: apierror.CodeValidation, details: issue("url", "The request URL is too long.")},
		{row: "415", name: "bind: unsupported media type", setup: route(bindHandler), method: http.MethodPost, body: "n=1",
			hdr: []string{echo.HeaderContentType, "text/plain"}, status: 422, code: apierror.CodeValidation,
			details: issue("header:Content-Type", "Unsupported Content-Type; send application/json.")},
		{row: "415", name: "echo.ErrUnsupportedMediaType", setup: returns(echo.ErrUnsupportedMediaType), status: 422, code: apierror.CodeValidation,
			details: issue("header:Content-Type", "Unsupported Content-Type; send application/json.")},
		{row: "422", name: "HTTPError 422", setup: returns(echo.NewHTTPError(http.StatusUnprocessableEntity, "end must be after start")),
			status: 422, code: apierror.CodeValidation, details: issue("request", "end must be after start")},

		{row: "429", name: "echo RateLimiter (its Retry-After is read)", setup: func(e *echo.Echo) {
			store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{Rate: 1.0 / 3600, Burst: 1})
			e.GET("/x", okHandler, middleware.RateLimiter(store))
		}, warmup: 1, status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":3600000}`,
			check: func(t *testing.T, h http.Header) {
				assert.Equal(t, "3600", h.Get("Retry-After"))
				assert.Equal(t, "0", h.Get("X-RateLimit-Remaining"), "echo's own headers are kept")
			}},
		{row: "429", name: "echo.ErrTooManyRequests with a Retry-After set earlier", setup: route(func(c *echo.Context) error {
			c.Response().Header().Set("Retry-After", "7")
			return echo.ErrTooManyRequests
		}), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":7000}`,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "7", h.Get("Retry-After")) }},
		{row: "429", name: "echo.ErrTooManyRequests without Retry-After", setup: returns(echo.ErrTooManyRequests),
			status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":1000}`,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "1", h.Get("Retry-After")) }},
		{row: "429", name: "echo.ErrTooManyRequests, DefaultRetryAfter set", cfg: Config{ErrorHandler: ErrorHandlerConfig{DefaultRetryAfter: 2500 * time.Millisecond}},
			setup: returns(echo.ErrTooManyRequests), status: 429, code: apierror.CodeRateLimited, details: `{"retryAfterMs":2500}`,
			check: func(t *testing.T, h http.Header) { assert.Equal(t, "3", h.Get("Retry-After")) }},

		{row: "431", name: "HTTPError 431", setup: returns(echo.NewHTTPError(http.StatusRequestHeaderFieldsTooLarge, "")),
			status: 422, code: apierror.CodeValidation, details: issue("header", "The request headers are too large.")},
		{row: "408", name: "echo.ErrRequestTimeout", setup: returns(echo.ErrRequestTimeout), status: 500, code: apierror.CodeInternal},
		{row: "425", name: "HTTPError 425", setup: returns(echo.NewHTTPError(http.StatusTooEarly, "")), status: 500, code: apierror.CodeInternal},
		{row: "any other 4xx", name: "HTTPError 406 with a message", setup: returns(echo.NewHTTPError(http.StatusNotAcceptable, "Only application/json.")),
			status: 422, code: apierror.CodeValidation, details: issue("request", "Only application/json.")},
		{row: "any other 4xx", name: "HTTPError 402 with a wrapped error", setup: returns(
			echo.NewHTTPError(http.StatusPaymentRequired, "").Wrap(errors.New("wallet w_1 empty"))),
			status: 422, code: apierror.CodeValidation, details: issue("request", "Payment Required.")},

		{row: "5xx", name: "echo.ErrServiceUnavailable", setup: returns(echo.ErrServiceUnavailable), status: 500, code: apierror.CodeInternal},
		{row: "5xx", name: "echo.ErrInternalServerError", setup: returns(echo.ErrInternalServerError), status: 500, code: apierror.CodeInternal},
		{row: "5xx", name: "echo.ErrBadGateway", setup: returns(echo.ErrBadGateway), status: 500, code: apierror.CodeInternal},
		{row: "5xx", name: "HTTPError 502 with a wrapped error", setup: returns(
			echo.NewHTTPError(http.StatusBadGateway, "upstream").Wrap(errors.New("dial tcp 10.0.0.7:5432"))),
			status: 500, code: apierror.CodeInternal},
		{row: "5xx", name: "HTTPError without a status", setup: returns(&echo.HTTPError{Message: "zero"}), status: 500, code: apierror.CodeInternal},
		{row: "any other error", name: "a plain error", setup: returns(fmt.Errorf("query: %w", errors.New("context canceled"))),
			status: 500, code: apierror.CodeInternal},
		{row: "any other error", name: "echo.ErrRendererNotRegistered", setup: route(func(c *echo.Context) error { return c.Render(http.StatusOK, "x", nil) }),
			status: 500, code: apierror.CodeInternal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEcho(t, c.cfg)
			c.setup(e)
			method, target := c.method, c.target
			if method == "" {
				method = http.MethodGet
			}
			if target == "" {
				target = "/x"
			}
			for range c.warmup {
				require.Equal(t, http.StatusOK, do(e, method, target, nil).Code)
			}
			req := httptestRequest()
			req.Method, req.URL.Path, req.URL.RawQuery = method, target, ""
			if p, q, ok := strings.Cut(target, "?"); ok {
				req.URL.Path, req.URL.RawQuery = p, q
			}
			if c.body != "" {
				req.Body = io.NopCloser(strings.NewReader(c.body))
				req.ContentLength = int64(len(c.body))
				if c.warmup < 0 { // chunked: no Content-Length
					req.ContentLength = -1
				}
			}
			for i := 0; i+1 < len(c.hdr); i += 2 {
				req.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			rec := serve(e, req)
			env := requireEnvelope(t, rec, c.status, string(c.code))
			want := body(c.code, env.Error.RequestID, c.details)
			if c.want != nil {
				want = string(c.want.Render(env.Error.RequestID))
			}
			assert.Equal(t, want, rec.Body.String())
			if c.check != nil {
				c.check(t, rec.Header())
			}
		})
	}

	// Every row of the table has a case raised by echo v5.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[mapRow(t, c.row)] = true
	}
	for _, r := range httperror.Mapping() {
		assert.True(t, covered[r.Error], "row %q has no echo v5 case", r.Error)
	}
}

// TestTranslate checks the description of echo v5's errors for the core
// directly: what reaches StatusError, and that other status coders and
// plain errors are left to the writer.
func TestTranslate(t *testing.T) {
	cause := errors.New("strconv: bad digit")
	cases := []struct {
		name string
		err  error
		want *httperror.StatusError
	}{
		{"sentinel", echo.ErrNotFound, &httperror.StatusError{Status: 404, Message: "Not Found"}},
		{"wrapped sentinel", fmt.Errorf("w: %w", echo.ErrTooManyRequests), &httperror.StatusError{Status: 429, Message: "Too Many Requests"}},
		{"sentinel's Wrap is an HTTPError", echo.ErrBadRequest.Wrap(cause), &httperror.StatusError{Status: 400, Message: "Bad Request", Cause: cause}},
		{"HTTPError", echo.NewHTTPError(http.StatusConflict, "dup"), &httperror.StatusError{Status: 409, Message: "dup"}},
		{"HTTPError with a wrapped error", echo.NewHTTPError(http.StatusBadGateway, "up").Wrap(cause),
			&httperror.StatusError{Status: 502, Message: "up", Cause: cause}},
		{"BindingError", echo.NewBindingError("limit", []string{"x"}, "query param", cause),
			&httperror.StatusError{Status: 400, Field: "limit", Cause: cause}},
		{"BindingError beats a shallower HTTPError", echo.NewHTTPError(http.StatusBadRequest, "x").Wrap(echo.NewBindingError("id", nil, "path value", nil)),
			&httperror.StatusError{Status: 400, Field: "id"}},
		{"BindingError without HTTPError", &echo.BindingError{Field: "f"}, &httperror.StatusError{Status: 400, Field: "f"}},
		{"another status coder", statusOnly(418), nil},
		{"a plain error", cause, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, translate(c.err))
		})
	}
}

// statusOnly is a third-party error with a status and nothing else.
type statusOnly int

func (s statusOnly) Error() string   { return "status only" }
func (s statusOnly) StatusCode() int { return int(s) }
