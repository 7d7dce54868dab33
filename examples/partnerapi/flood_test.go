package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// floodRequests is how many panicking requests TestPanicFlood sends.
const floodRequests = 200

// floodPath panics in its handler (see errorExample).
const floodPath = "/v1/errors/INTERNAL/example?panic=true"

// flood sends floodRequests panicking requests and returns the bytes the
// server logged and the log lines of the panics.
func flood(t *testing.T, s *testServer) (int, []map[string]any) {
	t.Helper()
	ids := map[string]bool{}
	for range floodRequests {
		resp := s.do(t, request{method: "GET", path: floodPath})
		env := requireError(t, resp, 500, "INTERNAL")
		requireDetails(t, env, "")
		require.NotContains(t, string(resp.body), exampleSecret)
		ids[env.Error.RequestID] = true
	}
	s.logs.mu.Lock()
	n := s.logs.buf.Len()
	s.logs.mu.Unlock()
	var panics []map[string]any
	for _, line := range s.logs.lines(t) {
		if line["code"] == "INTERNAL" {
			require.True(t, ids[line["requestId"].(string)], "a line of another request: %v", line)
			delete(ids, line["requestId"].(string))
			panics = append(panics, line)
		}
	}
	require.Empty(t, ids, "requests without their INTERNAL line")
	return n, panics
}

// TestPanicFlood: a flood of identical panics logs the stack once per
// interval, on every framework, while every INTERNAL keeps its line with
// its requestId and cause (and a stackId and repeat count), so the flood
// writes a fraction of the bytes of full stacks. The figures of
// docs/security.md come from this test's log (-v).
func TestPanicFlood(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{AccessLog: false})
		start := time.Now()
		deduped, lines := flood(t, s)
		require.Len(t, lines, floodRequests)
		full := 0
		for i, line := range lines {
			require.Contains(t, line["error"], exampleSecret, "the cause is logged, never sent")
			require.NotEmpty(t, line["stackId"])
			require.Equal(t, lines[0]["stackId"], line["stackId"], "one call site, one stack ID")
			if _, ok := line["stack"]; ok {
				full++
				continue
			}
			require.EqualValues(t, i, line["stackRepeat"], "line %d", i)
		}
		require.Equal(t, 1, full, "the stack is logged in full once a minute")
		t.Logf("%s: %d panics, %d bytes of log with stack deduplication (%v)", fw, floodRequests, deduped, time.Since(start).Round(time.Millisecond))

		every := startServer(t, fw, Config{AccessLog: false, stackLogInterval: -1})
		all, lines := flood(t, every)
		for _, line := range lines {
			require.NotEmpty(t, line["stack"])
		}
		t.Logf("%s: %d panics, %d bytes of log with every stack in full: %.1fx", fw, floodRequests, all, float64(all)/float64(deduped))
		require.Greater(t, all, 5*deduped)
	})
}
