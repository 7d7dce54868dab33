package killswitch

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/principal"
)

// Config configures a [Guard]. Only Checker is required.
//
// Mount the guard after the service's authentication (which records the
// principal) and before the rate limiter, so a switched-off key or
// organization is refused without consuming rate-limit tokens. To refuse
// unauthenticated traffic too while the whole API is switched off, add a
// second guard with GlobalOnly before authentication: it then answers
// KILL_SWITCH before the auth check costs anything, and the post-auth guard
// still handles key and organization switches.
type Config struct {
	// Checker answers the check: a [*MemoryStore], a Redis store, a
	// [*Snapshot] or any [Checker]. Required.
	Checker Checker
	// KeyIDFunc extracts the API key ID of a request. Default
	// principal.KeyID.
	KeyIDFunc func(r *http.Request) string
	// OrganizationIDFunc extracts the organization ID of a request. Default
	// principal.OrganizationID.
	OrganizationIDFunc func(r *http.Request) string
	// GlobalOnly checks the global switch only, ignoring key and
	// organization switches and the extractors: for use before
	// authentication.
	GlobalOnly bool
	// Skip exempts a request from the check, in every adapter alike; see
	// [SkipPaths] for health and operator routes. Default: never skip.
	Skip func(r *http.Request) bool
	// Now returns the current time, for Retry-After. Default time.Now.
	Now func() time.Time
	// Events, if set, receives one event.KindKillSwitch per refused
	// request, with the Scope of the switch and the Method; requests let
	// through fire nothing. A Hook in the request's context
	// (event.NewContext) receives it too.
	Events event.Hook
}

// Guard refuses the requests a kill switch turns off. It holds no state of
// its own and is safe for concurrent use; adapters call [Guard.Check] on
// every request.
type Guard struct {
	checker    Checker
	keyID      func(*http.Request) string
	orgID      func(*http.Request) string
	globalOnly bool
	skip       func(*http.Request) bool
	now        func() time.Time
	events     event.Hook
}

// New returns the Guard for cfg, or an error when cfg.Checker is nil. Zero
// fields take their defaults.
func New(cfg Config) (*Guard, error) {
	if cfg.Checker == nil {
		return nil, errors.New("killswitch: Config.Checker is nil")
	}
	g := &Guard{
		checker:    cfg.Checker,
		keyID:      cfg.KeyIDFunc,
		orgID:      cfg.OrganizationIDFunc,
		globalOnly: cfg.GlobalOnly,
		skip:       cfg.Skip,
		now:        cfg.Now,
		events:     cfg.Events,
	}
	if g.keyID == nil {
		g.keyID = principal.KeyID
	}
	if g.orgID == nil {
		g.orgID = principal.OrganizationID
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g, nil
}

// Check returns nil when no switch turns r off (or Skip exempts it), and
// otherwise apierror.KillSwitch with the scope of the broadest switch that
// does (global, then organization, then key). For the global switch with an
// ExpectedDuration it first sets Retry-After on h (the response's header):
// the time left in whole seconds, rounded up, at least 1. The operator's
// reason, name and time are never part of the error. The caller renders the
// error and must not run the request's handler. A refusal fires one
// event to Config.Events. With the default
// extractors, Check does not allocate when it lets a request through.
func (g *Guard) Check(h http.Header, r *http.Request) error {
	if g.skip != nil && g.skip(r) {
		return nil
	}
	var keyID, orgID string
	if !g.globalOnly {
		keyID, orgID = g.keyID(r), g.orgID(r)
	}
	sw, on := g.checker.Check(keyID, orgID)
	if !on {
		return nil
	}
	if d, ok := sw.RetryAfter(g.now()); ok {
		h.Set("Retry-After", strconv.FormatInt(apierror.RetryAfterSeconds(d), 10))
	}
	event.Fire(r.Context(), g.events, event.Event{Kind: event.KindKillSwitch, Method: event.StandardMethod(r.Method), Scope: sw.Scope})
	return apierror.KillSwitch(sw.Scope)
}

// SkipPaths returns a predicate, for [Config].Skip or an adapter's skipper,
// that reports whether a request's URL path matches one of patterns: a
// pattern ending in "/*" matches that prefix and everything below it
// ("/admin/*" matches "/admin", "/admin/" and "/admin/x/y", not
// "/administrator"); any other pattern matches the path exactly.
func SkipPaths(patterns ...string) func(r *http.Request) bool {
	exact := make(map[string]struct{})
	var prefixes []string
	for _, p := range patterns {
		if base, ok := strings.CutSuffix(p, "/*"); ok {
			prefixes = append(prefixes, base)
			continue
		}
		exact[p] = struct{}{}
	}
	return func(r *http.Request) bool {
		if r == nil || r.URL == nil {
			return false
		}
		path := r.URL.Path
		if _, ok := exact[path]; ok {
			return true
		}
		for _, base := range prefixes {
			if rest, ok := strings.CutPrefix(path, base); ok && (rest == "" || rest[0] == '/') {
				return true
			}
		}
		return false
	}
}
