package killswitch

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
)

// FuzzDecodeEntry feeds arbitrary hash fields and values, as anyone with
// write access to Redis could store them: decoding never panics, and what it
// accepts is a valid switch that round-trips through fieldName.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("global", `{"reason":"r","by":"b","at":"2026-04-18T14:00:00Z","expectedDurationMs":1500}`)
	f.Add("key:k1", "1")
	f.Add("organization:o:1", "")
	f.Add("key:", "{}")
	f.Add("global:x", "null")
	f.Fuzz(func(t *testing.T, field, value string) {
		s, err := decodeEntry(field, value)
		if err != nil {
			if !errors.Is(err, ErrInvalidSwitch) {
				t.Fatalf("error %v does not wrap ErrInvalidSwitch", err)
			}
			return
		}
		if err := validateTarget(s.Scope, s.ID); err != nil {
			t.Fatalf("accepted invalid target: %v", err)
		}
		if got := fieldName(s.Scope, s.ID); got != field {
			t.Fatalf("fieldName = %q, want %q", got, field)
		}
		if s.ExpectedDuration < 0 || (s.ExpectedDuration > 0 && s.Scope != ScopeGlobal) {
			t.Fatalf("bad expected duration %v on %s", s.ExpectedDuration, s.Scope)
		}
	})
}

// FuzzParsePutBody feeds arbitrary PUT bodies: parsing never panics, every
// refusal is a VALIDATION error, and what it accepts is within bounds.
func FuzzParsePutBody(f *testing.F) {
	f.Add([]byte(`{"reason":"incident","expectedDurationSeconds":600}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"reason":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"expectedDurationSeconds":1e99}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parsePutBody(raw)
		if err != nil {
			if apierror.CodeOf(err) != apierror.CodeValidation {
				t.Fatalf("refusal %v is not VALIDATION", err)
			}
			return
		}
		if len(b.Reason) > MaxReasonLength || b.ExpectedDurationSeconds < 0 || b.ExpectedDurationSeconds > maxExpectedSeconds {
			t.Fatalf("accepted out-of-bounds body %+v", b)
		}
		if !utf8.ValidString(b.Reason) {
			t.Fatalf("accepted invalid UTF-8 reason %q", b.Reason)
		}
	})
}
