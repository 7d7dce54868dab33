package echo5

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/layershq/errkit/jsonbody"
)

// JSONBinder is an echo.Binder for JSON APIs: c.Bind binds path values
// and, for GET, DELETE, HEAD and QUERY, query parameters as
// echo.DefaultBinder does (echo.BindPathValues, echo.BindQueryParams),
// then decodes the body with jsonbody.Decode, strictly, where echo's
// DefaultBinder would bind an XML or form body on the same route, accept
// data after the JSON value and turn invalid UTF-8 into U+FFFD.
//
// The body's refusals are *apierror.Error values (VALIDATION naming the
// problem: a Content-Type other than JSON, trailing data, invalid UTF-8, a
// duplicated key, malformed JSON, a field of the wrong type; or
// PAYLOAD_TOO_LARGE with details.maxBytes past Options.MaxBytes or the
// [BodyLimit] middleware's limit), which the errkit error handler renders
// as they are. Path and query parameters that do not bind are echo's 400
// errors, rendered as VALIDATION by the same handler. A GET, DELETE, HEAD
// or QUERY request without a body binds its parameters only; any other
// request must carry a JSON body unless Options.AllowEmpty is set.
//
// Install it on the echo instance:
//
//	e.Binder = echo5.JSONBinder{Options: jsonbody.Options{MaxBytes: 1 << 20}}
//
// A route that takes another media type (a file upload) binds it itself
// (echo.BindBody, or c.FormFile).
type JSONBinder struct {
	// Options configure the body's decoding; the zero value is
	// jsonbody's strict default (1 MiB cap, unknown fields allowed).
	Options jsonbody.Options
}

// Bind implements echo.Binder: path values, query parameters for GET,
// DELETE, HEAD and QUERY, then the JSON body (skipped for those methods
// without one). Each step may overwrite what the previous one bound, as in
// echo.DefaultBinder.
func (b JSONBinder) Bind(c *echo.Context, target any) error {
	if err := echo.BindPathValues(c, target); err != nil {
		return err
	}
	r := c.Request()
	switch r.Method {
	case http.MethodGet, http.MethodDelete, http.MethodHead, echo.QUERY:
		if err := echo.BindQueryParams(c, target); err != nil {
			return err
		}
		if r.ContentLength == 0 {
			return nil
		}
	}
	return jsonbody.Decode(r, target, b.Options)
}

var _ echo.Binder = JSONBinder{}
