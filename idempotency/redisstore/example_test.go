package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/idempotency/redisstore"
)

// Every instance of a service shares one Redis keyspace, so a retry that
// reaches another instance replays too. The client should honour context
// deadlines, so that the Guard's StoreTimeout bounds network I/O.
func Example() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"localhost:6379"},
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	store, err := redisstore.New(client, redisstore.Config{Prefix: "partnerapi:idempotency:"})
	if err != nil {
		panic(err)
	}
	defer store.Close() // stops its checks
	g, err := idempotency.New(idempotency.Config{
		Store:    store,
		Required: true, // reject POST/PATCH without Idempotency-Key
	})
	if err != nil {
		panic(err)
	}
	// Mount g with the adapter of the service's framework, for example
	// nethttp.Idempotency(g) inside a ServeMux route.
	_ = g
}

// A missing client is a configuration error reported by New.
func ExampleNew_nilClient() {
	_, err := redisstore.New(nil, redisstore.Config{})
	fmt.Println(err)
	// Output:
	// idempotency/redisstore: nil Redis client
}
