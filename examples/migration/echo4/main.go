// The errkit service of the echo v5 migration guide
// (docs/migration-echo5.md), complete and runnable: examples/migration/echo4
// serves it on echo v4, examples/migration/echo5 on echo v5, and the diff
// between their main.go files is the whole move.
//
//	go run ./examples/migration/echo4 -addr 127.0.0.1:8080
//	go run ./examples/migration/echo5 -redis redis://127.0.0.1:6379/0  # one instance of a fleet
//
// Instances of both, on one Redis, form one fleet: they share rate limits,
// kill switches and idempotency records.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	idemredis "github.com/layershq/errkit/idempotency/redisstore"
	"github.com/layershq/errkit/killswitch"
	ksredis "github.com/layershq/errkit/killswitch/redisstore"
	errkitmw "github.com/layershq/errkit/middleware"
	"github.com/layershq/errkit/principal"
	"github.com/layershq/errkit/ratelimit"
	rlredis "github.com/layershq/errkit/ratelimit/redisstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	redisURL := flag.String("redis", "", "Redis URL of the fleet's rate limits, kill switches and idempotency records (in memory when empty)")
	flag.Parse()

	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	errorResponses := new(expvar.Map)
	expvar.Publish("errorResponses", errorResponses)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{
		Addr: *addr, Logger: logger, RedisURL: *redisURL, RedisPrefix: "projects:",
		AdminToken: os.Getenv("ADMIN_TOKEN"), ErrorResponses: errorResponses,
	})
	if err != nil {
		logger.Error("exiting", "error", err.Error())
		os.Exit(1)
	}
}

// config is what the service needs from its environment.
type config struct {
	Addr     string
	Logger   *slog.Logger
	RedisURL string // "": everything in memory
	// RedisPrefix starts every Redis key: the same for every instance of
	// the service, whatever framework it runs on.
	RedisPrefix string
	// AdminToken guards the operator API; empty refuses every operator.
	AdminToken string
	// ErrorResponses counts error responses by status.
	ErrorResponses *expvar.Map
	// Listening, when set, is told the address once the service listens.
	Listening func(addr string)
}

// run serves until ctx is done, then lets in-flight requests finish.
func run(ctx context.Context, cfg config) error {
	e, closeStores, err := newServer(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = closeStores() }()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	cfg.Logger.Info("listening", "addr", ln.Addr().String())
	if cfg.Listening != nil {
		cfg.Listening(ln.Addr().String())
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newServer builds the service: errkit's guards on their stores, and the
// routes on echo in errkit's wiring order.
func newServer(cfg config) (*echo.Echo, func() error, error) {
	st, err := newStores(cfg)
	if err != nil {
		return nil, nil, err
	}
	global, err := killswitch.New(killswitch.Config{Checker: st.switches, GlobalOnly: true})
	if err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	switches, err := killswitch.New(killswitch.Config{Checker: st.switches})
	if err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	limiter, err := ratelimit.New(ratelimit.Config{Store: st.limits, Logger: cfg.Logger})
	if err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	replay, err := idempotency.New(idempotency.Config{Store: st.replays})
	if err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	admin, err := killswitch.NewAdmin(killswitch.AdminConfig{Controller: st.switches, Authorize: operator(cfg.AdminToken)})
	if err != nil {
		return nil, nil, errors.Join(err, st.close())
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard) // echo v4's logger is gommon's; errkit logs to cfg.Logger
	if err := errkitmw.Install(e, errkitmw.Config{Logger: cfg.Logger, AccessLog: &errkitmw.AccessLogConfig{}}); err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	e.HTTPErrorHandler = countErrors(e.HTTPErrorHandler, cfg.ErrorResponses)
	e.Use(echomw.Secure())

	// The API: the global switch before authentication, the caller's
	// switches before the limiter, idempotency innermost.
	api := e.Group("/v1",
		errkitmw.KillSwitch(global),
		authenticate,
		errkitmw.KillSwitch(switches),
		errkitmw.RateLimit(limiter),
		errkitmw.BodyLimit(64<<10),
		errkitmw.Idempotency(replay),
	)
	p := &projects{byID: map[string]project{"prj_1": {ID: "prj_1", Name: "Launch"}}}
	api.GET("/projects/:id", p.get)
	api.POST("/projects", p.create)

	// Operators and metrics: outside /v1, never rate limited or switched off.
	if err := errkitmw.RegisterAdmin(e.Group("/admin/killswitch"), admin); err != nil {
		return nil, nil, errors.Join(err, st.close())
	}
	e.GET("/debug/vars", echo.WrapHandler(expvar.Handler()))
	return e, st.close, nil
}

// countErrors counts every error response by status, around the errkit
// error handler that renders it. echo calls the handler a second time for
// an error the access log had rendered already: that one is not counted
// again.
func countErrors(next echo.HTTPErrorHandler, counts *expvar.Map) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		answered := c.Response().Committed
		next(err, c)
		if !answered {
			counts.Add(strconv.Itoa(c.Response().Status), 1)
		}
	}
}

// keys are the API keys, by SHA-256 of the secret.
var keys = map[[sha256.Size]byte]principal.Principal{
	sha256.Sum256([]byte("lp_demo")): {KeyID: "key_demo", OrganizationID: "org_demo", Scopes: []string{"projects:write"}},
}

// authenticate records the caller of a valid API key for the limiter, the
// kill switch and idempotency, and refuses any other request.
func authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secret, ok := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			return apierror.Unauthenticated()
		}
		p, ok := keys[sha256.Sum256([]byte(secret))]
		if !ok {
			return apierror.Unauthenticated().WithMessage("The API key is not valid.")
		}
		errkitmw.SetPrincipal(c, p)
		return next(c)
	}
}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// operator guards the operator API with a fixed token.
func operator(token string) killswitch.AuthorizeFunc {
	return func(r *http.Request) (string, error) {
		if got, ok := bearer(r.Header.Get("Authorization")); !ok || token == "" || got != token {
			return "", apierror.Unauthenticated()
		}
		return "operator", nil
	}
}

// project is the API's one resource.
type project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// projects is the service's domain, in memory.
type projects struct {
	mu   sync.Mutex
	byID map[string]project
}

func (s *projects) get(c echo.Context) error {
	s.mu.Lock()
	p, ok := s.byID[c.Param("id")]
	s.mu.Unlock()
	if !ok {
		return apierror.NotFound()
	}
	return c.JSON(http.StatusOK, p)
}

func (s *projects) create(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := c.Bind(&in); err != nil {
		return err // errkit answers VALIDATION, naming the body
	}
	if strings.TrimSpace(in.Name) == "" {
		return apierror.Validation(apierror.Issue{Path: "name", Message: "must not be empty."})
	}
	s.mu.Lock()
	p := project{ID: fmt.Sprintf("prj_%d", len(s.byID)+1), Name: in.Name}
	s.byID[p.ID] = p
	s.mu.Unlock()
	return c.JSON(http.StatusCreated, p)
}

// stores are errkit's three stores: in memory, or in Redis for a fleet.
type stores struct {
	limits   ratelimit.Store
	switches killswitch.Source
	replays  idempotency.Store
	close    func() error
}

func newStores(cfg config) (*stores, error) {
	if cfg.RedisURL == "" {
		limits, err := ratelimit.NewMemoryStore(ratelimit.MemoryConfig{})
		if err != nil {
			return nil, err
		}
		switches, err := killswitch.NewMemoryStore(killswitch.MemoryConfig{})
		if err != nil {
			return nil, errors.Join(err, limits.Close())
		}
		replays, err := idempotency.NewMemoryStore(idempotency.MemoryConfig{})
		if err != nil {
			return nil, errors.Join(err, limits.Close())
		}
		return &stores{limits: limits, switches: switches, replays: replays, close: limits.Close}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	opts.ContextTimeoutEnabled = true // the stores' timeouts must hold on network I/O
	client := redis.NewClient(opts)
	limits, err := rlredis.New(client, rlredis.Config{Prefix: cfg.RedisPrefix + "ratelimit:"})
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	switches, err := ksredis.New(client, ksredis.Config{Prefix: cfg.RedisPrefix + "killswitch:", Logger: cfg.Logger})
	if err != nil {
		return nil, errors.Join(err, limits.Close(), client.Close())
	}
	replays, err := idemredis.New(client, idemredis.Config{Prefix: cfg.RedisPrefix + "idempotency:", Logger: cfg.Logger})
	if err != nil {
		return nil, errors.Join(err, switches.Close(), limits.Close(), client.Close())
	}
	return &stores{limits: limits, switches: switches, replays: replays, close: func() error {
		return errors.Join(replays.Close(), switches.Close(), limits.Close(), client.Close())
	}}, nil
}
