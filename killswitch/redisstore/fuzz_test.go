package redisstore

import (
	"errors"
	"testing"

	"github.com/layershq/errkit/killswitch"
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
			if !errors.Is(err, killswitch.ErrInvalidSwitch) {
				t.Fatalf("error %v does not wrap ErrInvalidSwitch", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted invalid switch: %v", err)
		}
		if got := fieldName(s.Scope, s.ID); got != field {
			t.Fatalf("fieldName = %q, want %q", got, field)
		}
		if s.ExpectedDuration < 0 || (s.ExpectedDuration > 0 && s.Scope != killswitch.ScopeGlobal) {
			t.Fatalf("bad expected duration %v on %s", s.ExpectedDuration, s.Scope)
		}
	})
}
