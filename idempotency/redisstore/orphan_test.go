package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redisclient"
	"github.com/layershq/errkit/internal/redistest"
)

// The two safeguards against orphan leases (see the package doc), each
// tested on its own: a test where both run cannot tell which one worked.

// commandCalls returns how many times Redis ran cmd (lower case, counting
// the commands scripts call) since the last CONFIG RESETSTAT.
func commandCalls(t *testing.T, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// stallStore is a store on a private server for the stall tests: a client
// that does not retry (a retry would send a second acquisition), fast
// background rounds and probes. It waits for the first background round,
// so the checks' own calls are done before the test stalls Redis.
func stallStore(t *testing.T, addr, prefix string) *Store {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	s, err := New(client, Config{Prefix: prefix, Timeout: 100 * time.Millisecond, CheckInterval: 20 * time.Millisecond,
		ProbeInterval: 20 * time.Millisecond, Logger: discard})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.Eventually(t, func() bool { return s.rounds.Load() >= 1 }, 5*time.Second, 5*time.Millisecond)
	return s
}

// acquireTimeout is the caller's deadline of the acquisitions that stall.
const acquireTimeout = 200 * time.Millisecond

// acquireStalled runs an Acquire of key that must fail for want of an
// answer, as a Guard would (its StoreTimeout as the deadline).
func acquireStalled(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), acquireTimeout)
	defer cancel()
	_, err := s.Acquire(ctx, key, "owner", "sha256:f", time.Hour)
	require.Error(t, err)
	require.True(t, redisclient.IsOutage(ctx, errors.Unwrap(err)), "no answer: %v", err)
}

// TestFenceOnly: with the background release held, only the deadline
// fence keeps an acquisition that Redis runs after its caller gave up
// (queued while Redis was stopped by SIGSTOP) from taking a lease. The key
// never exists: not after Redis ran the queued script, not later.
func TestFenceOnly(t *testing.T) {
	inst := redistest.Private(t)
	admin := inst.Client(t)
	prefix := inst.Prefix(t)
	s := stallStore(t, inst.Addr(), prefix)
	holdReleases(s)
	ctx := context.Background()
	// The warm-up loads the script and teaches the store Redis's clock.
	lk, err := s.Acquire(ctx, "warm-up", "w", "sha256:f", time.Minute)
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, lk.State)
	require.NoError(t, admin.ConfigResetStat(ctx).Err())

	inst.Pause(t)
	acquireStalled(t, s, "stalled")
	inst.Resume(t)
	require.Eventually(t, func() bool { return commandCalls(t, admin, "evalsha") >= 1 }, 5*time.Second, 5*time.Millisecond,
		"Redis ran the queued acquisition")
	n, err := admin.Exists(ctx, prefix+"stalled").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the fence refused the late acquisition")
	assert.Zero(t, commandCalls(t, admin, "set"), "the script took nothing")
	assert.Equal(t, []pending{{key: "stalled", token: "owner"}}, pendingReleases(s),
		"the release never ran: the fence alone did it")
}

// TestReleaseOnly: without a fence (no call has taught the store Redis's
// clock yet), an acquisition that Redis runs after its caller gave up
// takes a lease; the background release removes it by token once Redis
// answers.
func TestReleaseOnly(t *testing.T) {
	inst := redistest.Private(t)
	admin := inst.Client(t)
	prefix := inst.Prefix(t)
	s := stallStore(t, inst.Addr(), prefix)
	ctx := context.Background()
	// Load the script without the store, or the stalled EVALSHA would only
	// get NOSCRIPT and take nothing either.
	require.NoError(t, acquireScript.Load(ctx, admin).Err())
	dctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	require.Zero(t, s.clocks.For(s.gate.Node(ctx, prefix+"stalled")).Deadline(dctx), "no clock offset: no fence")
	require.NoError(t, admin.ConfigResetStat(ctx).Err())

	inst.Pause(t)
	acquireStalled(t, s, "stalled")
	inst.Resume(t)
	require.Eventually(t, func() bool {
		n, err := admin.Exists(ctx, prefix+"stalled").Result()
		return err == nil && n == 0 && len(pendingReleases(s)) == 0
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, commandCalls(t, admin, "set"), "the late acquisition took the lease")
	assert.GreaterOrEqual(t, commandCalls(t, admin, "del"), 1, "and the release removed it")
	lk, err := s.Acquire(ctx, "stalled", "retry", "sha256:f", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, idempotency.Acquired, lk.State, "the retry runs the work")
}

// replyDropper is a TCP proxy to Redis that can drop Redis's replies: the
// commands still arrive and run in time, their answers never come back.
type replyDropper struct {
	ln   net.Listener
	to   string
	drop atomic.Bool
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func newReplyDropper(t *testing.T, to string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &replyDropper{ln: ln, to: to}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *replyDropper) addr() string { return p.ln.Addr().String() }

func (p *replyDropper) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			_, _ = io.Copy(u, c)
			_ = u.Close()
			_ = c.Close()
		}()
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := u.Read(buf)
				if n > 0 && !p.drop.Load() {
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = c.Close()
			_ = u.Close()
		}()
	}
}

// TestReleaseAfterLostReply: an acquisition that Redis ran in time (the
// fence cannot help) but whose reply was lost leaves a lease its caller
// does not know it holds; the background release removes it by token.
func TestReleaseAfterLostReply(t *testing.T) {
	inst := redistest.Private(t)
	admin := inst.Client(t)
	prefix := inst.Prefix(t)
	proxy := newReplyDropper(t, inst.Addr())
	s := stallStore(t, proxy.addr(), prefix)
	holdReleases(s)
	ctx := context.Background()
	_, err := s.Acquire(ctx, "warm-up", "w", "sha256:f", time.Minute) // the fence is on
	require.NoError(t, err)

	proxy.drop.Store(true)
	acquireStalled(t, s, "lost")
	proxy.drop.Store(false)
	v, err := admin.Get(ctx, prefix+"lost").Result()
	require.NoError(t, err, "Redis ran the acquisition in time")
	assert.True(t, strings.HasPrefix(v, leaseTag+"owner"+leaseSep), v)
	require.Equal(t, []pending{{key: "lost", token: "owner"}}, pendingReleases(s))

	resumeReleases(s)
	require.Eventually(t, func() bool {
		n, err := admin.Exists(ctx, prefix+"lost").Result()
		return err == nil && n == 0 && len(pendingReleases(s)) == 0
	}, 5*time.Second, 5*time.Millisecond)
}

// TestPendingReleases: one round of background releases. A release Redis
// refuses (here WRONGTYPE: the key holds a list) is logged and dropped,
// and the entries after it are released all the same; while Redis does
// not answer, the first entry costs one timeout and every entry is kept.
func TestPendingReleases(t *testing.T) {
	inst := redistest.Private(t)
	admin := inst.Client(t)
	prefix := inst.Prefix(t)
	rec := &recorder{}
	client := redis.NewClient(&redis.Options{Addr: inst.Addr(), MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = client.Close() })
	var sent atomic.Int64
	client.AddHook(&evalshaCounter{n: &sent})
	s, err := New(client, Config{Prefix: prefix, Timeout: 100 * time.Millisecond, Logger: rec.logger(), FailAfter: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	holdReleases(s)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		_, err := s.Acquire(ctx, k, "owner", "sha256:f", time.Hour)
		require.NoError(t, err)
	}
	require.NoError(t, admin.RPush(ctx, prefix+"list", "x").Err())

	t.Run("outage", func(t *testing.T) {
		addPending(s, pending{"a", "owner"}, pending{"b", "owner"})
		inst.Pause(t)
		before := sent.Load()
		releaseNow(ctx, s)
		assert.Equal(t, int64(1), sent.Load()-before, "one try for the node that does not answer")
		assert.Equal(t, []pending{{"a", "owner"}, {"b", "owner"}}, pendingReleases(s), "all kept")
		inst.Resume(t)
		releaseNow(ctx, s)
		assert.Empty(t, pendingReleases(s))
		n, err := admin.Exists(ctx, prefix+"a", prefix+"b").Result()
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("refused", func(t *testing.T) {
		_, err := s.Acquire(ctx, "c", "owner", "sha256:f", time.Hour)
		require.NoError(t, err)
		addPending(s, pending{"list", "owner"}, pending{"c", "owner"})
		releaseNow(ctx, s)
		assert.Empty(t, pendingReleases(s), "the refused entry is dropped, not kept")
		n, err := admin.Exists(ctx, prefix+"c").Result()
		require.NoError(t, err)
		assert.Zero(t, n, "the entry after the refused one is released")
		got := rec.logged(t, "could not release a lease")
		require.Len(t, got, 1)
		assert.Equal(t, prefix+"list", got[0]["key"])
		assert.Contains(t, got[0]["error"], "WRONGTYPE")
		assert.Equal(t, "ERROR", got[0]["level"])
	})
}

// evalshaCounter counts the EVALSHA commands a client sends.
type evalshaCounter struct{ n *atomic.Int64 }

func (h *evalshaCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *evalshaCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *evalshaCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
