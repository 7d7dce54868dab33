package errkit_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Module paths the dependency rules are about.
const (
	echoAny = "github.com/labstack/echo"
	echoV4  = "github.com/labstack/echo/v4"
	echoV5  = "github.com/labstack/echo/v5"
	goRedis = "github.com/redis/go-redis"
	otelAny = "go.opentelemetry.io"
	otelSDK = "go.opentelemetry.io/otel/sdk"
	otelExp = "go.opentelemetry.io/otel/exporters"
	promAny = "github.com/prometheus"
)

// TestDependencyRules builds each package's dependency list with go list
// -deps (what a service importing it compiles, tests excluded) and fails
// when the core links a web framework, a Redis client or OpenTelemetry, an
// adapter links a framework it is not for or OpenTelemetry, or the
// OpenTelemetry integration links more than the OpenTelemetry API (no SDK,
// no exporter, no Prometheus client, no framework, no Redis client).
func TestDependencyRules(t *testing.T) {
	core := []string{"apierror", "event", "ratelimit", "killswitch", "idempotency", "jobs", "retry",
		"principal", "requestid", "httperror", "accesslog", "upstream", "bearer", "jsonbody", "clientip"}
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"nethttp", []string{echoAny, goRedis, otelAny}},
		{"middleware", []string{echoV5, goRedis, otelAny}},
		{"echo5", []string{echoV4, goRedis, otelAny}},
		{"otelerrkit", []string{otelSDK, otelExp, promAny, echoAny, goRedis}},
		{"ratelimit/redisstore", []string{echoAny}},
		{"killswitch/redisstore", []string{echoAny}},
		{"idempotency/redisstore", []string{echoAny}},
		{"upstream/redisstore", []string{echoAny}},
	}
	for _, p := range core {
		rules = append(rules, struct {
			pkg       string
			forbidden []string
		}{p, []string{echoAny, goRedis, otelAny}})
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			out, err := exec.Command(goBin, "list", "-deps", "./"+r.pkg).CombinedOutput()
			require.NoError(t, err, "go list -deps ./%s: %s", r.pkg, out)
			deps := strings.Fields(string(out))
			require.Contains(t, deps, "github.com/layershq/errkit/"+r.pkg, "go list listed the package itself")
			for _, d := range deps {
				for _, f := range r.forbidden {
					assert.False(t, d == f || strings.HasPrefix(d, f+"/"), "%s links %s (forbidden: %s)", r.pkg, d, f)
				}
			}
		})
	}
	t.Run("middleware is on echo v4", func(t *testing.T) {
		out, err := exec.Command(goBin, "list", "-deps", "./middleware").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, strings.Fields(string(out)), echoV4, "the check above can see echo at all")
	})
	t.Run("otelerrkit is on the OpenTelemetry API", func(t *testing.T) {
		out, err := exec.Command(goBin, "list", "-deps", "./otelerrkit").CombinedOutput()
		require.NoError(t, err, "%s", out)
		deps := strings.Fields(string(out))
		for _, api := range []string{"go.opentelemetry.io/otel/metric", "go.opentelemetry.io/otel/trace"} {
			assert.Contains(t, deps, api, "the check above can see OpenTelemetry at all")
		}
	})
	t.Run("echo5 is on echo v5", func(t *testing.T) {
		out, err := exec.Command(goBin, "list", "-deps", "./echo5").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, strings.Fields(string(out)), echoV5, "the check above can see echo v5 at all")
	})
}
