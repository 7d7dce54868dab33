package redisstore_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/upstream"
	"github.com/layershq/errkit/upstream/redisstore"
)

// A fleet shares its circuit breakers through Redis: a circuit opened on
// one instance answers CIRCUIT_OPEN on all of them. (Compiled, not run: it
// needs a Redis server.)
func ExampleNew() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "redis:6379",
		ContextTimeoutEnabled: true, // required: Config.Timeout must hold
	})
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	store, err := redisstore.New(client, redisstore.Config{Prefix: "partner-api:upstream:", Logger: logger})
	if err != nil {
		panic(err) // configuration mistakes only; an unreachable Redis is not an error
	}
	defer store.Close()

	breaker, err := upstream.NewBreaker(upstream.BreakerConfig{
		Failures: 5,
		Cooldown: 30 * time.Second,
		Store:    store,
		Logger:   logger,
	})
	if err != nil {
		panic(err)
	}
	defer breaker.Close()

	tiktok, err := upstream.NewClient(upstream.ClientConfig{
		Platform: apierror.PlatformTikTok,
		Resource: "tiktok-publish",
		Breaker:  breaker,
	})
	if err != nil {
		panic(err)
	}
	_ = tiktok // tiktok.Do(req) from a handler; return its error to the adapter
}
