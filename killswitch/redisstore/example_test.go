package redisstore_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/killswitch"
	"github.com/layershq/errkit/killswitch/redisstore"
)

// A fleet shares its switches through Redis. (Compiled, not run: it needs
// a Redis server.)
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "redis:6379",
		ContextTimeoutEnabled: true, // required: Config.Timeout must hold
	})
	switches, err := redisstore.New(client, redisstore.Config{
		Prefix:  "partner-api:killswitch:",
		Startup: redisstore.StartOpen, // the default; StartClosed refuses everything until loaded
		Logger:  slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		panic(err) // configuration mistakes only; an unreachable Redis is not an error
	}
	defer switches.Close()

	guard, err := killswitch.New(killswitch.Config{Checker: switches})
	if err != nil {
		panic(err)
	}
	_ = guard // mount it with nethttp.KillSwitch or the echo middleware package's KillSwitch

	if switches.Stale() { // for a readiness report: the last known state is still enforced
		slog.Warn("kill switches stale", "lastSync", switches.LastSync())
	}
	// An operator flips the organization off on one instance; every
	// instance enforces it within a pub/sub round trip.
	_ = switches.On(context.Background(), killswitch.Switch{Scope: killswitch.ScopeOrganization, ID: "org_1", Reason: "fraud", By: "alice"})
}
