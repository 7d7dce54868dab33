package killswitch

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
)

// Scope is what a switch turns off: one API key, one organization, or the
// whole Partner API. It is the same type as details.scope of KILL_SWITCH.
type Scope = apierror.KillSwitchScope

// The three scopes, narrowest first. When several switches apply to one
// request the broadest wins: global, then organization, then key.
const (
	ScopeKey          = apierror.ScopeKey
	ScopeOrganization = apierror.ScopeOrganization
	ScopeGlobal       = apierror.ScopeGlobal
)

// MaxIDLength is the longest key or organization ID a switch accepts, in bytes.
const MaxIDLength = 256

// MaxReasonLength is the longest operator reason a switch keeps, in bytes.
const MaxReasonLength = 1024

// Switch is one kill switch that is on. Reason, By and At are for operators:
// they are listed by the operator API and never sent to API clients.
type Switch struct {
	// Scope is what the switch turns off.
	Scope Scope
	// ID is the key ID or organization ID; it is empty for the global switch.
	ID string
	// Reason is the operator's note on why the switch was flipped.
	Reason string
	// By names who flipped the switch.
	By string
	// At is when the switch was flipped. On fills it in when it is zero.
	At time.Time
	// ExpectedDuration is the operator's estimate of how long the global
	// switch stays on, counted from At. When it is positive a [Guard]
	// answers a Retry-After header with the time left. It must be zero for
	// key and organization switches, which carry no retry advice.
	ExpectedDuration time.Duration
}

// ErrInvalidSwitch is wrapped by every error that rejects a switch or a
// (scope, id) pair as malformed; test for it with errors.Is. The operator
// API answers it as VALIDATION.
var ErrInvalidSwitch = errors.New("killswitch: invalid switch")

// Validate reports whether s can be stored: a known scope, no ID for global,
// a non-empty printable ID of at most [MaxIDLength] bytes otherwise, a
// reason and a By of at most [MaxReasonLength] bytes each, and a
// non-negative ExpectedDuration that is only set on the global switch.
// Errors wrap [ErrInvalidSwitch]. A Switch holding only Scope and ID
// validates the (scope, id) pair alone, as Off does.
func (s Switch) Validate() error {
	if err := validateTarget(s.Scope, s.ID); err != nil {
		return err
	}
	if len(s.Reason) > MaxReasonLength {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalidSwitch, MaxReasonLength)
	}
	if len(s.By) > MaxReasonLength {
		return fmt.Errorf("%w: by longer than %d bytes", ErrInvalidSwitch, MaxReasonLength)
	}
	if s.ExpectedDuration < 0 {
		return fmt.Errorf("%w: negative expected duration", ErrInvalidSwitch)
	}
	if s.ExpectedDuration > 0 && s.Scope != ScopeGlobal {
		return fmt.Errorf("%w: only the global switch takes an expected duration", ErrInvalidSwitch)
	}
	return nil
}

// validateTarget checks a (scope, id) pair.
func validateTarget(scope Scope, id string) error {
	if !scope.Valid() {
		return fmt.Errorf("%w: unknown scope %q (want key, organization or global)", ErrInvalidSwitch, string(scope))
	}
	if scope == ScopeGlobal {
		if id != "" {
			return fmt.Errorf("%w: the global switch has no id", ErrInvalidSwitch)
		}
		return nil
	}
	if id == "" {
		return fmt.Errorf("%w: a %s switch needs an id", ErrInvalidSwitch, scope)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%w: id longer than %d bytes", ErrInvalidSwitch, MaxIDLength)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%w: id is not valid UTF-8", ErrInvalidSwitch)
	}
	for _, r := range id {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: id contains a space or control character", ErrInvalidSwitch)
		}
	}
	return nil
}

// RetryAfter returns how long a client should wait before retrying a request
// refused by s, and false when s carries no retry advice (key and
// organization switches, and a global switch without an expected duration).
// The time left is counted from At to At+ExpectedDuration; once that has
// passed the advice is one second.
func (s Switch) RetryAfter(now time.Time) (time.Duration, bool) {
	if s.Scope != ScopeGlobal || s.ExpectedDuration <= 0 {
		return 0, false
	}
	left := s.At.Add(s.ExpectedDuration).Sub(now)
	if left < time.Second {
		left = time.Second
	}
	return left, true
}

// Checker answers, for one request, whether a switch turns it off. Check
// must be safe for concurrent use and cheap: it runs on every request.
type Checker interface {
	// Check returns the broadest switch that is on for a request made with
	// keyID on behalf of orgID (global, then organization, then key), and
	// false when none is. An empty keyID or orgID matches no key or
	// organization switch.
	Check(keyID, orgID string) (Switch, bool)
}

// Controller flips switches and lists them: the operator side.
type Controller interface {
	// On turns the switch on, replacing any switch on the same (scope, id).
	// A zero At is set to the current time. Invalid switches are rejected
	// with an error wrapping ErrInvalidSwitch.
	On(ctx context.Context, s Switch) error
	// Off turns the (scope, id) switch off. Turning off a switch that is not
	// on is not an error.
	Off(ctx context.Context, scope Scope, id string) error
	// List returns every switch that is on: global first, then
	// organizations, then keys, each group sorted by ID.
	List(ctx context.Context) ([]Switch, error)
}

// Source is a [Checker] that is also a [Controller]: a [MemoryStore], or
// the Redis store of package killswitch/redisstore.
type Source interface {
	Checker
	Controller
}
