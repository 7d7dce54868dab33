package apierror

import (
	"strconv"
	"testing"
	"time"
)

// FuzzParseRetryAfter: any header value parses without panicking to a
// non-negative wait, and delay-seconds round-trip.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "1", "30", "259200", "-1", "1.5", "99999999999999999999", "Sat, 18 Apr 2026 14:22:15 GMT", "Monday, 02-Jan-06 15:04:05 MST", "Mon Jan  2 15:04:05 2006", " 7 ", "\x00"} {
		f.Add(s)
	}
	now := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v < 0", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false", v, d)
		}
		// delay-seconds is 1*DIGIT: "+1" and "-1" are not delay-seconds.
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && v[0] >= '0' && v[0] <= '9' && s < 1<<32 {
			if !ok || d != time.Duration(s)*time.Second {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v", v, d, ok)
			}
		}
	})
}
