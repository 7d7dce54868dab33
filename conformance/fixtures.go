// Package conformance is the one test suite every errkit adapter runs
// unchanged: [Run] drives a server the adapter builds from [Fixtures] over a
// real loopback listener and checks the wire results (status,
// Content-Type, X-Request-Id equal to requestId, Retry-After, RateLimit
// headers, Allow, safe headers, body bytes modulo the request ID) for every
// code, router 404 and 405 (inside a router group with middleware too),
// the body limit, a panic, HEAD, inbound
// request-ID abuse, RATE_LIMITED, KILL_SWITCH per scope, and idempotency
// replay, conflict and in use.
//
// An adapter's test builds its server from [Fixtures.Routes]: each [Route]
// says which errkit middleware wrap its handler, always in the order
// authentication ([Fixtures.Authenticate]), kill switch, rate limit, body
// limit, idempotency; a route with a [Route.Group] is mounted in a router
// group with middleware. Handlers read path parameters with r.PathValue, so an
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

// Fixtures are the errkit parts an adapter wires into its server, built by
// [Run] with in-memory stores.
type Fixtures struct {
	// Limiter limits /limited: class "read", 2 requests, refilled at one
	// per 1000 seconds.
	Limiter *ratelimit.Limiter
	// KillSwitch guards /switched.
	KillSwitch *killswitch.Guard
	// Idempotency guards POST /idem/{id}.
	Idempotency *idempotency.Guard
	// Logger is the logger the adapter's error writer and access log
	// should use, so the suite can check that no secret leaks into a
	// response while the cause is logged.
	Logger *slog.Logger

	switches *killswitch.MemoryStore
	work     atomic.Int64
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
	// Auth puts [Fixtures.Authenticate] in front: the adapter sets the
	// returned request (echo: c.SetRequest) or answers its error.
	Auth bool
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
		{Method: http.MethodGet, Path: "/switched", Auth: true, KillSwitch: true, Handler: ok},
		{Method: http.MethodPost, Path: "/idem/{id}", Auth: true, Idempotency: true, Handler: f.idem},
		{Method: http.MethodGet, Path: "/grouped/{id}", Group: "/grouped", Handler: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, err := io.WriteString(w, "grouped "+r.PathValue("id"))
			return err
		}},
	}
}

// idem is the work behind idempotency: it counts runs, and a body
// containing "hold" waits until the test releases it.
func (f *Fixtures) idem(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	n := f.work.Add(1)
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
	store, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{SweepInterval: -1})
	must(t, err)
	t.Cleanup(func() { _ = store.Close() })
	lim, err := ratelimit.New(ratelimit.Config{
		Store:   store,
		Classes: map[string]ratelimit.Rate{"read": {PerSecond: 0.001, Burst: 2}, "write": {PerSecond: 0.001, Burst: 2}},
	})
	must(t, err)
	switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
	must(t, err)
	guard, err := killswitch.New(killswitch.Config{Checker: switches, Now: func() time.Time { return fixedNow }})
	must(t, err)
	istore, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
	must(t, err)
	idem, err := idempotency.New(idempotency.Config{Store: istore})
	must(t, err)
	return &Fixtures{
		Limiter: lim, KillSwitch: guard, Idempotency: idem, Logger: logger,
		switches: switches, entered: make(chan struct{}, 1), release: make(chan struct{}),
	}
}

// fixedNow is the kill switches' clock.
var fixedNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// flip turns a switch on for the rest of the test.
func (f *Fixtures) flip(t *testing.T, s killswitch.Switch) {
	t.Helper()
	s.Reason, s.By, s.At = "conformance "+Secret, "suite", fixedNow
	must(t, f.switches.On(context.Background(), s))
	t.Cleanup(func() { _ = f.switches.Off(context.Background(), s.Scope, s.ID) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
