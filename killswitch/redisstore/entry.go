package redisstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/layershq/errkit/killswitch"
)

// entry is the JSON value of one switch in the Redis hash. Its field name
// carries the scope and ID (see fieldName).
type entry struct {
	Reason             string    `json:"reason,omitempty"`
	By                 string    `json:"by,omitempty"`
	At                 time.Time `json:"at,omitzero"`
	ExpectedDurationMs int64     `json:"expectedDurationMs,omitempty"`
}

func encodeEntry(s killswitch.Switch) entry {
	return entry{Reason: s.Reason, By: s.By, At: s.At.UTC(), ExpectedDurationMs: s.ExpectedDuration.Milliseconds()}
}

// fieldName is the hash field of a switch: "global", "organization:<id>" or
// "key:<id>".
func fieldName(scope killswitch.Scope, id string) string {
	if scope == killswitch.ScopeGlobal {
		return string(killswitch.ScopeGlobal)
	}
	return string(scope) + ":" + id
}

// decodeEntry turns one hash field and value into a switch. The field must
// name a valid (scope, id). The value is best effort: a field that is
// present turns its switch on even when the value is empty or not the JSON
// this package writes (an operator may flip a switch with a bare
// "HSET <prefix>switches key:<id> 1"); an expected duration is kept only
// when it is positive and on the global switch, and a reason or by longer
// than killswitch.MaxReasonLength is cut to it. What it returns passes
// Switch.Validate.
func decodeEntry(field, value string) (killswitch.Switch, error) {
	var s killswitch.Switch
	if field == string(killswitch.ScopeGlobal) {
		s.Scope = killswitch.ScopeGlobal
	} else {
		scope, id, ok := strings.Cut(field, ":")
		if !ok || scope == string(killswitch.ScopeGlobal) {
			return killswitch.Switch{}, fmt.Errorf("%w: field %q is not global, organization:<id> or key:<id>", killswitch.ErrInvalidSwitch, field)
		}
		s.Scope, s.ID = killswitch.Scope(scope), id
	}
	if err := validateTarget(s.Scope, s.ID); err != nil {
		return killswitch.Switch{}, err
	}
	var e entry
	if json.Unmarshal([]byte(value), &e) == nil {
		s.Reason, s.By, s.At = truncate(e.Reason), truncate(e.By), e.At
		if s.Scope == killswitch.ScopeGlobal && e.ExpectedDurationMs > 0 && e.ExpectedDurationMs <= maxExpectedMs {
			s.ExpectedDuration = time.Duration(e.ExpectedDurationMs) * time.Millisecond
		}
	} else {
		s.Reason = "(set directly in Redis)"
	}
	return s, nil
}

// truncate cuts s to at most killswitch.MaxReasonLength bytes without
// splitting a UTF-8 sequence: a switch set by hand with a long note is
// still on, rather than ignored.
func truncate(s string) string {
	if len(s) <= killswitch.MaxReasonLength {
		return s
	}
	n := killswitch.MaxReasonLength
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxExpectedMs keeps a decoded duration far from time.Duration overflow.
const maxExpectedMs = int64(365 * 24 * time.Hour / time.Millisecond)
