package redistest_test

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/layershq/errkit/internal/redistest"
)

func TestPrivateStopStart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Private(t)
	if !srv.IsPrivate() {
		t.Fatal("Private returned a non-private instance")
	}
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want loopback", srv.Addr())
	}
	if want := "redis://" + srv.Addr() + "/0"; srv.URL() != want {
		t.Fatalf("URL = %q, want %q", srv.URL(), want)
	}
	c := srv.Client(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("get = %q, %v; want v", got, err)
	}

	addr := srv.Addr()
	srv.Stop(t)
	srv.Stop(t) // idempotent
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("port still accepts connections after Stop")
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(tctx).Err(); err == nil {
		t.Fatal("ping succeeded while server stopped")
	}

	srv.Start(t)
	srv.Start(t) // idempotent
	if srv.Addr() != addr {
		t.Fatalf("Addr changed across restart: %q -> %q", addr, srv.Addr())
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
	// Persistence is off: the restarted server is empty.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("exists after restart = %d, %v; want 0", n, err)
	}
	if err := c.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatalf("set after restart: %v", err)
	}
}

func TestPrivateInstancesAreDistinct(t *testing.T) {
	a, b := redistest.Private(t), redistest.Private(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two private servers share %s", a.Addr())
	}
	ctx := context.Background()
	ca, cb := a.Client(t), b.Client(t)
	if err := ca.Set(ctx, "x", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cb.Exists(ctx, "x").Result(); err != nil || n != 0 {
		t.Fatalf("key leaked between private servers: %d, %v", n, err)
	}
}

func TestPrivateStoppedByCleanup(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = redistest.Private(t).Addr()
	})
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("private server on %s still running after its test ended", addr)
	}
}

func TestServer(t *testing.T) {
	srv := redistest.Server(t)
	if url := os.Getenv("REDIS_URL"); url != "" {
		if srv.URL() != url || srv.IsPrivate() {
			t.Fatalf("with REDIS_URL=%q got URL %q private=%v", url, srv.URL(), srv.IsPrivate())
		}
	} else if !srv.IsPrivate() {
		t.Fatal("without REDIS_URL Server should start a private server")
	}
	ctx := context.Background()
	c := srv.Client(t)
	p := srv.Prefix(t)
	if err := c.Set(ctx, p+"k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	if got, err := c.Get(ctx, p+"k").Result(); err != nil || got != "v" {
		t.Fatalf("get = %q, %v", got, err)
	}
}

// TestServerWithoutRedisURL checks the private fallback even when the run
// provides a shared server.
func TestServerWithoutRedisURL(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	srv := redistest.Server(t)
	if !srv.IsPrivate() {
		t.Fatal("without REDIS_URL Server should start a private server")
	}
	if err := srv.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// TestServerWithRedisURL checks that Server uses REDIS_URL when set, even
// when the run itself has none.
func TestServerWithRedisURL(t *testing.T) {
	shared := redistest.Private(t)
	t.Setenv("REDIS_URL", shared.URL())
	srv := redistest.Server(t)
	if srv.IsPrivate() || srv.Addr() != shared.Addr() {
		t.Fatalf("Server ignored REDIS_URL: addr %q private=%v", srv.Addr(), srv.IsPrivate())
	}
	ctx := context.Background()
	if err := srv.Client(t).Set(ctx, srv.Prefix(t)+"k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := shared.Client(t).DBSize(ctx).Result(); err != nil || n != 1 {
		t.Fatalf("dbsize on shared server = %d, %v; want 1", n, err)
	}
}

func TestPrefixUnique(t *testing.T) {
	srv := redistest.Server(t)
	a, b := srv.Prefix(t), srv.Prefix(t)
	if a == b {
		t.Fatalf("Prefix returned %q twice", a)
	}
	if !strings.Contains(a, "TestPrefixUnique") || !strings.HasSuffix(a, ":") {
		t.Fatalf("Prefix = %q, want test name and trailing colon", a)
	}
	var sub string
	t.Run("sub test/with spaces*?", func(t *testing.T) { sub = srv.Prefix(t) })
	if strings.ContainsAny(sub, " *?[]") {
		t.Fatalf("Prefix %q contains glob or space characters", sub)
	}
}
