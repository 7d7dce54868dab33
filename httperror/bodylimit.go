package httperror

import (
	"net/http"

	"github.com/layershq/errkit/apierror"
)

// LimitBody caps r's body at maxBytes. It returns PAYLOAD_TOO_LARGE with
// details.maxBytes at once when Content-Length announces a longer body;
// otherwise it wraps the body in http.MaxBytesReader, whose
// *http.MaxBytesError the [Writer] maps to the same error when the handler
// reads past the cap (even wrapped, as a framework's bind error). maxBytes
// must be positive; adapters check it when they are configured.
func LimitBody(w http.ResponseWriter, r *http.Request, maxBytes int64) error {
	if r.ContentLength > maxBytes {
		return apierror.PayloadTooLarge(maxBytes)
	}
	if r.Body != nil && r.Body != http.NoBody {
		// The innermost writer: net/http's own closes the connection after
		// an oversized body, which it only does for a writer it knows.
		for {
			u, ok := w.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			w = u.Unwrap()
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	}
	return nil
}
