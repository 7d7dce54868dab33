package apierror

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter is where a parsed Retry-After saturates.
const maxRetryAfter = 1 << 62

// ParseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): delay-seconds
// or an HTTP-date, a date in the past meaning 0. It reports false when the
// header is absent or unreadable. Huge values saturate at about 146 years
// rather than overflow. It is the one Retry-After parser of errkit: the
// decoder, the retry client and the error writer all use it.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s > maxRetryAfter/int64(time.Second) {
			return maxRetryAfter, true // only ErrRange is possible: all digits
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}
