package middleware

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/layershq/errkit/jsonbody"
)

// JSONBinder is an echo.Binder for JSON APIs: c.Bind binds path parameters
// and, for GET, DELETE and HEAD, query parameters as echo.DefaultBinder
// does, then decodes the body with jsonbody.Decode, strictly, where echo's
// DefaultBinder would bind an XML or form body on the same route, accept
// data after the JSON value and turn invalid UTF-8 into U+FFFD.
//
// The body's refusals are *apierror.Error values (VALIDATION naming the
// problem: a Content-Type other than JSON, trailing data, invalid UTF-8, a
// duplicated key, malformed JSON, a field of the wrong type; or
// PAYLOAD_TOO_LARGE with details.maxBytes past Options.MaxBytes or the
// BodyLimit middleware's limit), which the errkit error handler renders as
// they are. Path and query parameters that do not bind are echo's 400
// errors, rendered as VALIDATION by the same handler. A GET, DELETE or
// HEAD request without a body binds its parameters only; any other request
// must carry a JSON body unless Options.AllowEmpty is set.
//
// Install it on the echo instance:
//
//	e.Binder = errkitmw.JSONBinder{Options: jsonbody.Options{MaxBytes: 1 << 20}}
//
// A route that takes another media type (a file upload) binds it itself
// (echo.DefaultBinder's BindBody, or c.FormFile).
type JSONBinder struct {
	// DefaultBinder binds path and query parameters (and headers, for a
	// handler that calls BindHeaders).
	echo.DefaultBinder
	// Options configure the body's decoding; the zero value is
	// jsonbody's strict default (1 MiB cap, unknown fields allowed).
	Options jsonbody.Options
}

// Bind implements echo.Binder: path parameters, query parameters for GET,
// DELETE and HEAD, then the JSON body (skipped for a GET, DELETE or HEAD
// without one). Each step may overwrite what the previous one bound, as in
// echo.DefaultBinder.
func (b JSONBinder) Bind(i any, c echo.Context) error {
	if err := b.BindPathParams(c, i); err != nil {
		return err
	}
	r := c.Request()
	switch r.Method {
	case http.MethodGet, http.MethodDelete, http.MethodHead:
		if err := b.BindQueryParams(c, i); err != nil {
			return err
		}
		if r.ContentLength == 0 {
			return nil
		}
	}
	return jsonbody.Decode(r, i, b.Options)
}

var _ echo.Binder = JSONBinder{}
