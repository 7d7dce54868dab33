package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// MaxDecodeBytes is the most of a response body DecodeResponse reads.
const MaxDecodeBytes = 1 << 20

// maxPrefix is how much of a body that is not an envelope a ResponseError keeps.
const maxPrefix = 512

// maxCodeLen bounds a decoded code; real codes are far shorter.
const maxCodeLen = 64

// ResponseError is an error response whose body is not the contract's
// envelope: a proxy's HTML 502, an empty body, truncated JSON. It keeps the
// status and a bounded prefix of the body so that nothing is lost for the log.
type ResponseError struct {
	// Status is the HTTP status of the response.
	Status int
	// RequestID is the X-Request-Id header, when the response had one.
	RequestID string
	// Body is at most the first 512 bytes of the body.
	Body []byte
	// Truncated reports whether Body is shorter than the body was.
	Truncated bool
	// Reason says why the body is not an envelope.
	Reason string
}

// Error describes the response, quoting the body prefix.
func (e *ResponseError) Error() string {
	more := ""
	if e.Truncated {
		more = "…"
	}
	return fmt.Sprintf("apierror: HTTP %d response is not an error envelope (%s): %q%s", e.Status, e.Reason, e.Body, more)
}

// wireEnvelope is the permissive shape Decode reads.
type wireEnvelope struct {
	Error *struct {
		Code      *string         `json:"code"`
		Message   *string         `json:"message"`
		RequestID *string         `json:"requestId"`
		Details   json.RawMessage `json:"details"`
	} `json:"error"`
}

// Decode turns an HTTP status and body into the contract error: nil for a
// status below 400, an *Error for an envelope (any code, including codes this
// version does not know), and a *ResponseError for a body that is not an
// envelope. It never panics, whatever the body.
func Decode(status int, body []byte) error {
	if status < 400 {
		return nil
	}
	notEnvelope := func(reason string) error {
		re := &ResponseError{Status: status, Reason: reason}
		re.Body = bytes.Clone(body)
		if len(re.Body) > maxPrefix {
			re.Body, re.Truncated = re.Body[:maxPrefix:maxPrefix], true
		}
		return re
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return notEnvelope("empty body")
	}
	var w wireEnvelope
	if err := json.Unmarshal(body, &w); err != nil {
		return notEnvelope("invalid JSON: " + err.Error())
	}
	if w.Error == nil {
		return notEnvelope(`no "error" object`)
	}
	if w.Error.Code == nil || !ValidCode(*w.Error.Code) {
		return notEnvelope(`missing or malformed "error.code"`)
	}
	e := &Error{code: Code(*w.Error.Code), status: status}
	if w.Error.Message != nil {
		e.message = *w.Error.Message
	}
	if w.Error.RequestID != nil {
		e.requestID = *w.Error.RequestID
	}
	if d := bytes.TrimSpace(w.Error.Details); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		// Marshalling a RawMessage compacts it with encoding/json's HTML-safe
		// escaping (<, >, &, U+2028, U+2029), so that re-rendering a decoded
		// error gives exactly what json.Marshal(e.Envelope(id)) gives.
		if b, err := json.Marshal(json.RawMessage(d)); err == nil {
			e.details = rawDetails(b)
		}
	}
	return e
}

// DecodeResponse reads at most MaxDecodeBytes of resp.Body and decodes it as
// Decode does. It takes the requestId from the X-Request-Id header when the
// body has none, and keeps a Retry-After header (seconds or HTTP date) for
// (*Error).RetryAfter. The caller still closes resp.Body.
func DecodeResponse(resp *http.Response) error {
	if resp == nil {
		return errors.New("apierror: nil response")
	}
	if resp.StatusCode < 400 {
		return nil
	}
	var body []byte
	if resp.Body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxDecodeBytes+1))
		if err != nil {
			return &ResponseError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
				Reason: "reading body: " + err.Error(), Body: prefix(b), Truncated: len(b) > maxPrefix}
		}
		if len(b) > MaxDecodeBytes {
			return &ResponseError{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
				Reason: "body larger than 1 MiB", Body: prefix(b), Truncated: true}
		}
		body = b
	}
	err := Decode(resp.StatusCode, body)
	switch e := err.(type) {
	case *Error:
		if e.requestID == "" {
			e.requestID = resp.Header.Get("X-Request-Id")
		}
		e.retryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case *ResponseError:
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return err
}

func prefix(b []byte) []byte {
	if len(b) > maxPrefix {
		b = b[:maxPrefix]
	}
	return bytes.Clone(b)
}

// ValidCode reports whether s has the form of an error code, as Decode
// requires of a decoded one: ^[A-Z][A-Z0-9_]*$, at most 64 characters. It
// says nothing of whether the code is in the catalogue (Lookup does).
func ValidCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeLen || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
