package redisstore_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/ratelimit"
	"github.com/layershq/errkit/ratelimit/redisstore"
)

// A fleet shares buckets through Redis; the client must honour context
// deadlines so the per-call timeout holds. New does not dial: a Redis that
// is down is a failed decision later (the limiter's failure policy), not a
// constructor error.
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"127.0.0.1:6379"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Config{Timeout: 50 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	limiter, err := ratelimit.New(ratelimit.Config{Store: store})
	fmt.Println(limiter != nil, err)

	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer plain.Close()
	_, err = redisstore.New(plain, redisstore.Config{})
	fmt.Println(errors.Is(err, redisstore.ErrContextTimeoutDisabled))
	// Output:
	// true <nil>
	// true
}
