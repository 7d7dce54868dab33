package apierror

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Envelope is the wire shape of every 4xx and 5xx response:
// {"error":{"code","message","requestId","details"}}.
type Envelope struct {
	// Error is the "error" object, present on every 4xx and 5xx response.
	Error Body `json:"error"`
}

// Body is the "error" object of the envelope. Details is omitted when the
// code carries none.
type Body struct {
	// Code is "code": the stable error code to branch on; codes are added,
	// never renamed.
	Code Code `json:"code"`
	// Message is "message": a human sentence to log, not to branch on; never
	// the cause (INTERNAL always sends the generic message).
	Message string `json:"message"`
	// RequestID is "requestId": the request's ID, the same as its
	// X-Request-Id header; quote it in support tickets.
	RequestID string `json:"requestId"`
	// Details is "details": the code's structured context, whose documented
	// fields are guaranteed; omitted when the code carries none.
	Details json.RawMessage `json:"details,omitempty"`
}

// Envelope returns the wire value of e answered under requestID. The cause is
// never part of it.
func (e *Error) Envelope(requestID string) Envelope {
	return Envelope{Error: Body{Code: e.code, Message: e.message, RequestID: requestID, Details: e.RawDetails()}}
}

// AppendJSON appends the envelope of e answered under requestID to dst and
// returns the extended buffer. The bytes are exactly what encoding/json
// produces for e.Envelope(requestID) (HTML-safe escaping, invalid UTF-8
// replaced), without reflection; the cause is never written.
func (e *Error) AppendJSON(dst []byte, requestID string) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendString(dst, string(e.code))
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, e.message)
	dst = append(dst, `,"requestId":`...)
	dst = appendString(dst, requestID)
	if e.details != nil {
		dst = append(dst, `,"details":`...)
		dst = e.details.appendJSON(dst)
	}
	return append(dst, "}}"...)
}

// Render returns the envelope of e answered under requestID as JSON, in a
// buffer sized so that it is usually allocated once.
func (e *Error) Render(requestID string) []byte {
	return e.AppendJSON(make([]byte, 0, e.sizeHint(requestID)), requestID)
}

// sizeHint estimates the length of e's envelope: exact for unescaped strings
// and raw details, a generous guess for typed details.
func (e *Error) sizeHint(requestID string) int {
	n := len(`{"error":{"code":"","message":"","requestId":""}}`) + len(e.code) + len(e.message) + len(requestID) + 16
	if e.details == nil {
		return n
	}
	n += len(`,"details":`)
	switch d := e.details.(type) {
	case rawDetails:
		n += len(d)
	case ValidationDetails:
		n += len(`{"issues":[],"code":""}`) + len(d.Code)
		for _, is := range d.Issues {
			n += len(`{"path":"","message":""},`) + len(is.Path) + len(is.Message)
		}
	case PlatformErrorDetails:
		n += 128 + len(d.PlatformCode) + len(d.PlatformMessage)
	default:
		n += 160
	}
	return n
}

// MarshalJSON renders e as an envelope with an empty requestId, so that an
// *Error inside another JSON value never leaks its cause.
func (e *Error) MarshalJSON() ([]byte, error) { return e.Render(""), nil }

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

const hex = "0123456789abcdef"

// htmlSafe reports the ASCII bytes a JSON string holds unescaped with HTML
// escaping on: printable, and none of " \ < > &.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string exactly as encoding/json does with
// HTML escaping on: <, > and & as \u003c \u003e \u0026, U+2028 and U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
