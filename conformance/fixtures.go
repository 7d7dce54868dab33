// Package conformance is the one test suite every errkit adapter runs
// unchanged: [Run] drives a server the adapter builds from [Fixtures] over a
// real loopback listener and checks the wire results (status,
// Content-Type, X-Request-Id equal to requestId, Retry-After, RateLimit
// headers, Allow, safe headers, body bytes modulo the request ID) for every
// code, router 404 and 405 (inside a router group with middleware too),
// the body limit, a panic, HEAD, inbound
// request-ID abuse, RATE_LIMITED (with a route's own class), KILL_SWITCH
// per scope (a global guard in front of authentication too), the kill
// switches' operator API end to end, idempotency replay, conflict, in
// use, release after a failure and a bad key, and the events every request
// fires (one request event, exactly one error event per error with its
// route template, limiter and kill-switch events; ten thousand distinct
// unknown paths still name one route).
//
// An adapter's test builds its server from [Fixtures.Routes]: each [Route]
// says which errkit middleware wrap its handler, always in the order
// global kill switch, authentication ([Fixtures.Authenticate] or
// [Fixtures.Identify]), kill switch, rate limit, body limit, idempotency; a
// route with a [Route.Group] is mounted in a router group with middleware.
// [Fixtures.Admin] is mounted at [AdminPrefix]. Handlers read path parameters with r.PathValue, so an
// adapter whose router does not set them copies its parameters into the
// request with r.SetPathValue.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
)

// Secret is in the cause of /internal and in the panic of /panic. It must
// never reach a response.
const Secret = "sk_live_conformance_53cr3t"

// MaxBodyBytes is the body limit of /upload.
const MaxBodyBytes = 64

// AdminPrefix is where the adapter mounts [Fixtures.Admin]: net/http as
// http.StripPrefix(AdminPrefix, Admin(f.Admin)) for AdminPrefix and
// AdminPrefix+"/", echo as RegisterAdmin(e.Group(AdminPrefix), f.Admin).
const AdminPrefix = "/admin/killswitch"

// OperatorAuthorization is the Authorization header [Fixtures.Admin]
// accepts, as the operator "alice"; it refuses every other.
const OperatorAuthorization = "Bearer op-alice"

// Fixtures are the errkit parts an adapter wires into its server, built by
// [Run] with in-memory stores.
type Fixtures struct {
	// Limiter limits /limited: class "read", 2 requests, refilled at one
	// per 1000 seconds.
	Limiter *ratelimit.Limiter
	// KillSwitch guards /switched per caller.
	KillSwitch *killswitch.Guard
	// GlobalKillSwitch is the guard of the global switch alone that a
	// route with [Route.GlobalKillSwitch] has in front of authentication.
	GlobalKillSwitch *killswitch.Guard
	// Admin is the kill switches' operator API, mounted at [AdminPrefix].
	Admin *killswitch.Admin
	// Idempotency guards POST /idem/{id}.
	Idempotency *idempotency.Guard
	// Logger is the logger the adapter's error writer and access log
	// should use, so the suite can check that no secret leaks into a
	// response while the cause is logged.
	Logger *slog.Logger

	// Template is set by the adapter: it returns the route template its
	// router reports for rt (nethttp.Route, echo's c.Path()), which
	// idempotency fingerprints hold.
	Template func(rt Route) string
	// AdminRoute is set by the adapter: the route its access and error
	// logs name for a request to the operator API.
	AdminRoute string

	switches *killswitch.MemoryStore
	work     atomic.Int64
	switched atomic.Int64
	failed   atomic.Bool
	panicked atomic.Bool
	entered  chan struct{}
	release  chan struct{}
}

// Route is one route of the suite's server.
type Route struct {
	// Method is the HTTP method.
	Method string
	// Path is the route template in ServeMux syntax ("/idem/{id}").
	Path string
	// Group, when not empty, is a prefix of Path: an adapter whose router
	// has groups mounts the route at the rest of Path in a group at that
	// prefix that has a middleware of its own (a no-op will do), as
	// e.Group(prefix, mw) in echo, whose groups with middleware answer
	// unknown paths under the prefix with their own 404 routes, which must
	// not hide a 405's Allow header. A router without groups mounts Path.
	Group string
	// GlobalKillSwitch puts [Fixtures.GlobalKillSwitch] in front of
	// everything else, authentication included (an adapter may mount it
	// router-wide, skipping the routes without it).
	GlobalKillSwitch bool
	// Auth puts [Fixtures.Authenticate] in front: the adapter sets the
	// returned request (echo: c.SetRequest) or answers its error.
	Auth bool
	// Identify puts [Fixtures.Identify] in front: the adapter sets the
	// returned request.
	Identify bool
	// KillSwitch, RateLimit, BodyLimit and Idempotency name the errkit
	// middleware that wrap the handler, in that order after Auth.
	// BodyLimit caps bodies at [MaxBodyBytes].
	KillSwitch, RateLimit, BodyLimit, Idempotency bool
	// Handler answers the request; a returned error is rendered by the
	// adapter.
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Authenticate reads "Authorization: Bearer <keyID>:<organizationID>" and
// returns r carrying that principal, or UNAUTHENTICATED.
func (f *Fixtures) Authenticate(r *http.Request) (*http.Request, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	key, org, ok2 := strings.Cut(tok, ":")
	if !ok || !ok2 || key == "" || org == "" {
		return nil, apierror.Unauthenticated()
	}
	return principal.Set(r, principal.Principal{KeyID: key, OrganizationID: org}), nil
}

// Identify is the lenient authentication: a request with the credentials
// of [Fixtures.Authenticate] carries its principal, one without passes
// unauthenticated.
func (f *Fixtures) Identify(r *http.Request) *http.Request {
	if authed, err := f.Authenticate(r); err == nil {
		return authed
	}
	return r
}

// Routes returns the routes the adapter's server must serve.
func (f *Fixtures) Routes() []Route {
	ok := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, "ok")
		return err
	}
	example := func(_ http.ResponseWriter, r *http.Request) error {
		if e, found := apierror.Example(apierror.Code(r.PathValue("code"))); found {
			return e
		}
		return apierror.NotFound()
	}
	return []Route{
		{Method: http.MethodGet, Path: "/ok", Handler: ok},
		{Method: http.MethodHead, Path: "/ok", Handler: ok},
		{Method: http.MethodGet, Path: "/codes/{code}", Handler: example},
		{Method: http.MethodHead, Path: "/codes/{code}", Handler: example},
		{Method: http.MethodGet, Path: "/internal", Handler: func(http.ResponseWriter, *http.Request) error {
			return fmt.Errorf("charge wallet: dial postgres://billing:%s@db:5432: connection refused", Secret)
		}},
		{Method: http.MethodGet, Path: "/panic", Handler: func(http.ResponseWriter, *http.Request) error {
			panic("boom: " + Secret)
		}},
		{Method: http.MethodPost, Path: "/upload", BodyLimit: true, Handler: func(w http.ResponseWriter, r *http.Request) error {
			if _, err := io.ReadAll(r.Body); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}},
		{Method: http.MethodGet, Path: "/limited", Auth: true, RateLimit: true, Handler: ok},
		{Method: http.MethodGet, Path: "/things/{id}", Identify: true, RateLimit: true, Handler: ok},
		{Method: http.MethodGet, Path: "/switched", GlobalKillSwitch: true, Auth: true, KillSwitch: true, RateLimit: true,
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				f.switched.Add(1)
				return ok(w, r)
			}},
		{Method: http.MethodPost, Path: "/idem/{id}", Auth: true, Idempotency: true, Handler: f.idem},
		{Method: http.MethodGet, Path: "/grouped/{id}", Group: "/grouped", Handler: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, err := io.WriteString(w, "grouped "+r.PathValue("id"))
			return err
		}},
	}
}

// idem is the work behind idempotency: it counts runs, a body containing
// "hold" waits until the test releases it, and the first body "fail" fails
// and the first "panic" panics.
func (f *Fixtures) idem(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	n := f.work.Add(1)
	switch string(body) {
	case "fail":
		if !f.failed.Swap(true) {
			return apierror.Internal(errors.New("conformance: db down"))
		}
	case "panic":
		if !f.panicked.Swap(true) {
			panic("conformance: idempotent work panics")
		}
	}
	if strings.Contains(string(body), "hold") {
		f.entered <- struct{}{}
		select {
		case <-f.release:
		case <-time.After(10 * time.Second):
			return errors.New("conformance: the test never released the held request")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/idem/"+r.PathValue("id"))
	w.WriteHeader(http.StatusCreated)
	_, err = fmt.Fprintf(w, `{"id":%q,"run":%d}`, r.PathValue("id"), n)
	return err
}

// newFixtures builds the fixtures of one test.
func newFixtures(t *testing.T, logger *slog.Logger) *Fixtures {
	t.Helper()
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{
		SweepInterval: -1,
		Clock:         func() time.Duration { return time.Hour }, // time stands still
	})
	must(t, err)
	t.Cleanup(func() { _ = store.Close() })
	lim, err := ratelimit.New(ratelimit.Config{
		Store: store,
		Classes: map[string]ratelimit.Rate{
			"read": {PerSecond: 0.001, Burst: 2}, "write": {PerSecond: 0.001, Burst: 2},
			"things": {PerSecond: 0.5, Burst: 1},
		},
		// The limiter finds a route's class by the template the adapter's
		// router reports: ServeMux's and echo's spellings of /things/{id}.
		Routes: map[string]string{"GET /things/{id}": "things", "GET /things/:id": "things"},
	})
	must(t, err)
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{Now: func() time.Time { return flippedAt }})
	must(t, err)
	now := func() time.Time { return fixedNow }
	guard, err := killswitch.New(killswitch.Config{Checker: switches, Now: now})
	must(t, err)
	global, err := killswitch.New(killswitch.Config{Checker: switches, GlobalOnly: true, Now: now})
	must(t, err)
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{
		Controller: switches,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != OperatorAuthorization {
				return "", errors.New("no operator credentials")
			}
			return "alice", nil
		},
		Now: func() time.Time { return flippedAt },
	})
	must(t, err)
	istore, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	must(t, err)
	idem, err := idempotency.New(idempotency.Config{Store: istore})
	must(t, err)
	return &Fixtures{
		Limiter: lim, KillSwitch: guard, GlobalKillSwitch: global, Admin: admin, Idempotency: idem, Logger: logger,
		switches: switches, entered: make(chan struct{}, 1), release: make(chan struct{}),
	}
}

// fixedNow is the kill switch guards' clock.
var fixedNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// flippedAt is the operator API's clock, 100 seconds before the guards':
// a global switch's Retry-After is what is left of its expected duration.
var flippedAt = fixedNow.Add(-100 * time.Second)

// flip turns a switch on for the rest of the test, at fixedNow unless s
// says when.
func (f *Fixtures) flip(t *testing.T, s killswitch.Switch) {
	t.Helper()
	s.Reason, s.By = "conformance "+Secret, "suite"
	if s.At.IsZero() {
		s.At = fixedNow
	}
	must(t, f.switches.On(context.Background(), s))
	t.Cleanup(func() { _ = f.switches.Off(context.Background(), s.Scope, s.ID) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
