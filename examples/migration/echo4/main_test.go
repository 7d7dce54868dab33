package main

import (
	"context"
	"expvar"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/examples/migration/internal/servicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestService runs the migration guide's service test against the
// program, in memory and on a real Redis.
func TestService(t *testing.T) {
	servicetest.Run(t, startService)
}

// TestBind records where echo's c.Bind changed between the majors, which
// the migration guide describes: errkit answers VALIDATION either way, but
// echo v5 decodes the whole body with json.Unmarshal where echo v4 decoded
// the first JSON value of a stream.
func TestBind(t *testing.T) {
	for _, tt := range bindCases {
		status, body := servicetest.Create(t, startService, tt.body)
		require.Equal(t, tt.status, status, "%s: %s", tt.name, body)
		require.Contains(t, body, tt.want, tt.name)
	}
}

// bindCases are what echo v4's c.Bind answers.
var bindCases = []struct {
	name, body string
	status     int
	want       string
}{
	{"truncated body", `{"name":`, 422, `"message":"The body is not valid JSON (it ends too early)."`},
	{"bytes after the JSON value", `{"name":"Trailing"} and more`, 201, `"name":"Trailing"`},
}

// startService starts the program as main does (run) on a loopback
// listener, and stops it gracefully when the test ends.
func startService(t *testing.T, opts servicetest.Options) servicetest.Instance {
	counts := new(expvar.Map)
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, config{
			Addr: "127.0.0.1:0", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
			RedisURL: opts.RedisURL, RedisPrefix: opts.RedisPrefix,
			AdminToken: servicetest.AdminToken, ErrorResponses: counts,
			Listening: func(addr string) { listening <- addr },
		})
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done, "graceful stop")
	})
	select {
	case addr := <-listening:
		return servicetest.Instance{URL: "http://" + addr, ErrorResponses: counts}
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not listening after 10s")
	}
	return servicetest.Instance{}
}
