package apierror_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/layershq/errkit/apierror"
)

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// FuzzDecode feeds Decode any status and body. Decode must never panic, and
// its result is exactly one of:
//   - nil, for a status below 400;
//   - an *Error with a well-formed code and the status it arrived with, whose
//     re-rendering is what encoding/json would produce and decodes back to
//     the same error (rendering and decoding are a stable fixed point);
//   - a *ResponseError keeping the status and at most 512 bytes of the body.
//
// Seeds (testdata/fuzz/FuzzDecode) hold an envelope of every code, unknown
// codes, a proxy's HTML 502, empty, truncated and garbage bodies.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		orig := bytes.Clone(body)
		err := apierror.Decode(status, body)
		if !bytes.Equal(orig, body) {
			t.Fatalf("Decode modified its input")
		}
		if status < 400 {
			if err != nil {
				t.Fatalf("status %d: want nil, got %v", status, err)
			}
			return
		}
		switch e := err.(type) {
		case *apierror.Error:
			checkDecodedError(t, status, e)
		case *apierror.ResponseError:
			if e.Status != status {
				t.Fatalf("ResponseError.Status = %d, want %d", e.Status, status)
			}
			if len(e.Body) > 512 {
				t.Fatalf("ResponseError.Body has %d bytes, want <= 512", len(e.Body))
			}
			if !bytes.HasPrefix(body, e.Body) {
				t.Fatalf("ResponseError.Body %q is not a prefix of the body", e.Body)
			}
			if e.Truncated != (len(body) > 512) {
				t.Fatalf("Truncated = %v for a %d-byte body", e.Truncated, len(body))
			}
			if e.Reason == "" || e.Error() == "" {
				t.Fatalf("ResponseError without reason or message: %#v", e)
			}
		default:
			t.Fatalf("status %d: Decode returned %T (%v), want *Error or *ResponseError", status, err, err)
		}
	})
}

func checkDecodedError(t *testing.T, status int, e *apierror.Error) {
	t.Helper()
	if !codePattern.MatchString(string(e.Code())) {
		t.Fatalf("decoded code %q does not match %s", e.Code(), codePattern)
	}
	if e.Status() != status {
		t.Fatalf("Status() = %d, want %d", e.Status(), status)
	}
	if s := e.Spec(); s.Code != e.Code() || s.Retry.Kind == "" || s.Category == "" {
		t.Fatalf("Spec() = %+v for code %s", s, e.Code())
	}
	if d, ok := e.RetryAfter(); d < 0 || (!ok && d != 0) {
		t.Fatalf("RetryAfter() = %v, %v", d, ok)
	}
	_, _ = e.Details() // may fail on odd details, must not panic
	_ = e.Error()

	rendered := e.AppendJSON(nil, e.RequestID())
	want, err := json.Marshal(e.Envelope(e.RequestID()))
	if err != nil {
		t.Fatalf("json.Marshal(Envelope): %v", err)
	}
	if !bytes.Equal(rendered, want) {
		t.Fatalf("AppendJSON differs from json.Marshal(Envelope):\n got %q\nwant %q", rendered, want)
	}
	again, ok := apierror.Decode(status, rendered).(*apierror.Error)
	if !ok {
		t.Fatalf("re-rendered error %q does not decode to *Error", rendered)
	}
	if again.Code() != e.Code() || again.Message() != e.Message() || again.RequestID() != e.RequestID() ||
		!bytes.Equal(again.RawDetails(), e.RawDetails()) {
		t.Fatalf("decode(render(e)) differs:\n got %q %q %q %q\nwant %q %q %q %q",
			again.Code(), again.Message(), again.RequestID(), again.RawDetails(),
			e.Code(), e.Message(), e.RequestID(), e.RawDetails())
	}
	if r2 := again.AppendJSON(nil, again.RequestID()); !bytes.Equal(r2, rendered) {
		t.Fatalf("rendering is not stable:\n got %q\nwant %q", r2, rendered)
	}
}
