package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/retry"
)

// retryClock is the retry client's clock in these tests: it records every
// wait and, instead of sleeping, moves the demo's clock (its breaker's and
// the fake platform's) by as much, so a cooldown the client waits out has
// passed on the server too.
type retryClock struct {
	server *manualClock

	mu    sync.Mutex
	waits []time.Duration
}

func (c *retryClock) Now() time.Time { return c.server.now() }

func (c *retryClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.server.advance(d)
	return ctx.Err()
}

// retryRun is what one request sent with the retry client did.
type retryRun struct {
	status    int   // the final status, 0 when Do returned an error
	err       error // Do's error
	body      string
	waits     []time.Duration
	decisions []retry.Decision
	keys      []string // the Idempotency-Key of every attempt
	platform  int      // calls that reached the fake platform
}

// TestRetryClientAgainstDemo runs the retry package's client against the
// demo, which publishes to a fake platform of the test's (-platform-base),
// every request with one Idempotency-Key, counting the attempts at the
// client and at the platform:
//
//   - PLATFORM_ERROR with retryAfterMs: waited exactly, then retried once
//     (a success, or the same error given back: never a third attempt);
//   - PLATFORM_ERROR without it (a 429 without a window, a 5xx): not retried;
//   - CIRCUIT_OPEN: retryAfterSeconds waited out, then one probe, the only
//     call that reaches the platform (closing the circuit, or re-opening it
//     when the probe fails).
func TestRetryClientAgainstDemo(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		clock := newManualClock()
		fake := newFakePlatform(clock.now)
		hs := httptest.NewServer(fake)
		t.Cleanup(hs.Close)
		t.Cleanup(fake.close)
		cfg := unlimited
		cfg.now = clock.now
		cfg.PlatformBase = hs.URL
		cfg.BreakerFailures = 2
		cfg.BreakerCooldown = 10 * time.Second
		s := startServer(t, fw, cfg)
		transport := &http.Transport{}
		t.Cleanup(transport.CloseIdleConnections)

		// send publishes id to platform with the retry client and key.
		send := func(t *testing.T, key, id, platform string) retryRun {
			t.Helper()
			rc := &retryClock{server: clock}
			var run retryRun
			client := &retry.Client{Transport: &retry.Transport{
				Base:  transport,
				Clock: rc,
				OnAttempt: func(a retry.Attempt) {
					run.decisions = append(run.decisions, a.Decision)
					run.keys = append(run.keys, a.Request.Header.Get(retry.IdempotencyKeyHeader))
				},
			}}
			req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/content/"+id+"/publish", strings.NewReader(`{"platform":"`+platform+`"}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+keyFull)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(retry.IdempotencyKeyHeader, key)
			before := len(fake.publishCalls())
			resp, err := client.Do(context.Background(), req)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				require.NoError(t, rerr)
				require.NoError(t, resp.Body.Close())
				run.status, run.body = resp.StatusCode, string(b)
				require.Equal(t, len(run.decisions), len(run.keys))
			} else {
				run.err = err
				require.Equal(t, len(run.decisions), retry.AttemptsOf(err), "the client's count of attempts")
			}
			run.waits = rc.waits
			run.platform = len(fake.publishCalls()) - before
			for _, k := range run.keys {
				require.Equal(t, key, k, "every attempt carries the request's Idempotency-Key")
			}
			return run
		}
		// platformError returns the PLATFORM_ERROR of a run that ended in one.
		platformError := func(t *testing.T, run retryRun) *apierror.Error {
			t.Helper()
			require.Error(t, run.err)
			e, ok := apierror.As(run.err)
			require.True(t, ok, "%v", run.err)
			require.Equal(t, apierror.CodePlatformError, e.Code())
			return e
		}

		t.Run("PLATFORM_ERROR with retryAfterMs: waited exactly, then retried once", func(t *testing.T) {
			id := createContent(t, s, "prj_auto", "sleep better #ratelimited-once").ContainerID
			run := send(t, "retry-once", id, "tiktok")
			require.Equal(t, 200, run.status, "body: %s", run.body)
			require.Equal(t, []time.Duration{30 * time.Second}, run.waits, "waited exactly retryAfterMs")
			require.Equal(t, []retry.Decision{retry.Retry, retry.Done}, run.decisions)
			require.Equal(t, 2, run.platform, "the platform saw the first attempt and the retry")

			// The key now replays the published answer without calling the
			// platform again.
			again := s.do(t, request{method: "POST", path: "/v1/content/" + id + "/publish", key: keyFull, body: `{"platform":"tiktok"}`,
				header: map[string]string{idempotency.HeaderKey: "retry-once"}})
			require.Equal(t, 200, again.status)
			require.Equal(t, "true", again.header.Get(idempotency.HeaderReplayed))
			require.Equal(t, run.body, string(again.body))
			require.Len(t, fake.publishCalls(), 2, "a replay does not reach the platform")
		})

		t.Run("PLATFORM_ERROR with retryAfterMs, twice: retried once only", func(t *testing.T) {
			id := createContent(t, s, "prj_auto", "sleep better #ratelimited").ContainerID
			run := send(t, "retry-twice", id, "tiktok")
			e := platformError(t, run)
			require.Equal(t, `{"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":"The API rate limit was exceeded. Please try again later.","retryAfterMs":30000}`, string(e.RawDetails()))
			require.Equal(t, []time.Duration{30 * time.Second}, run.waits)
			require.Equal(t, []retry.Decision{retry.Retry, retry.GiveUp}, run.decisions, "the attempt cap (3) is not what stops it")
			require.Equal(t, 2, run.platform)
		})

		t.Run("PLATFORM_ERROR without retryAfterMs: not retried", func(t *testing.T) {
			for _, tt := range []struct{ name, tag, platform, details string }{
				{"429 without a window", "#throttled", "tiktok", `{"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":"The API rate limit was exceeded. Please try again later.","retryAfterMs":null}`},
				{"5xx", "#down", "meta", `{"platform":"meta","platformCode":"2","platformMessage":"An unexpected error has occurred. Please retry your request later.","retryAfterMs":null}`},
			} {
				t.Run(tt.name, func(t *testing.T) {
					id := createContent(t, s, "prj_auto", "sleep better "+tt.tag).ContainerID
					run := send(t, "retry-never-"+tt.platform, id, tt.platform)
					e := platformError(t, run)
					require.Equal(t, tt.details, string(e.RawDetails()))
					require.Empty(t, run.waits)
					require.Equal(t, []retry.Decision{retry.Stop}, run.decisions)
					require.Equal(t, 1, run.platform)
				})
			}
		})

		// open trips TikTok's circuit with two failures and checks it
		// refuses with the full cooldown.
		open := func(t *testing.T) {
			t.Helper()
			down := createContent(t, s, "prj_auto", "failing #down").ContainerID
			for range 2 {
				requireError(t, publishTo(t, s, keyFull, down, "tiktok"), 502, "PLATFORM_ERROR")
			}
			require.Equal(t, 10, retryAfterSeconds(t, publishTo(t, s, keyFull, down, "tiktok"), "tiktok-publish"))
		}

		t.Run("CIRCUIT_OPEN: waited out, then one probe", func(t *testing.T) {
			open(t)
			id := createContent(t, s, "prj_auto", "sleep better").ContainerID
			run := send(t, "retry-probe", id, "tiktok")
			require.Equal(t, 200, run.status, "body: %s", run.body)
			require.Equal(t, []time.Duration{10 * time.Second}, run.waits, "waited retryAfterSeconds")
			require.Equal(t, []retry.Decision{retry.Retry, retry.Done}, run.decisions)
			require.Equal(t, 1, run.platform, "only the probe reached the platform")
			require.Equal(t, 200, publishTo(t, s, keyFull, id, "tiktok").status, "the probe closed the circuit")
		})

		t.Run("CIRCUIT_OPEN: waited out, then one probe that fails", func(t *testing.T) {
			open(t)
			id := createContent(t, s, "prj_auto", "still failing #down").ContainerID
			run := send(t, "retry-failed-probe", id, "tiktok")
			e := platformError(t, run)
			require.Equal(t, `{"platform":"tiktok","platformCode":"internal_error","platformMessage":"Something went wrong. Please try again later.","retryAfterMs":null}`, string(e.RawDetails()))
			require.Equal(t, []time.Duration{10 * time.Second}, run.waits)
			require.Equal(t, []retry.Decision{retry.Retry, retry.Stop}, run.decisions)
			require.Equal(t, 1, run.platform, "only the probe reached the platform")
			// The failed probe re-opened the circuit for a full cooldown.
			require.Equal(t, 10, retryAfterSeconds(t, publishTo(t, s, keyFull, id, "tiktok"), "tiktok-publish"))
		})
	})
}
