package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/event"
	"github.com/layershq/errkit/internal/redisclient"
)

// ErrNoPersistence is wrapped by New's error under
// Config.RequirePersistence when a Redis master would forget completed
// keys on restart, or could not be checked.
var ErrNoPersistence = errors.New("idempotency/redisstore: Redis does not persist its data (neither AOF nor RDB is on), so a restart forgets completed keys and retries run the work again")

// errEvicts is the cause of an OutcomeUnsafe event for a Redis that may
// evict the store's keys.
var errEvicts = errors.New("idempotency/redisstore: Redis has a memory limit and an eviction policy other than noeviction, so it may evict completed keys and leases (they carry TTLs, so volatile-* policies evict them too)")

// nodeConfig is what the persistence check reads of one master.
type nodeConfig struct {
	addr       string
	appendonly string
	save       string
	maxmemory  string
	policy     string
	err        error // CONFIG GET failed
}

// persists reports whether the node writes AOF or RDB.
func (n nodeConfig) persists() bool { return n.appendonly == "yes" || strings.TrimSpace(n.save) != "" }

// evicts reports whether the node may evict keys under memory pressure.
func (n nodeConfig) evicts() bool { return n.maxmemory != "0" && n.policy != "noeviction" }

// masters runs f on every master of the client: each master of a cluster,
// each shard of a ring, the client itself otherwise.
func masters(ctx context.Context, client redis.UniversalClient, f func(ctx context.Context, c *redis.Client) error) error {
	switch c := client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, f)
	case *redis.Ring:
		return c.ForEachShard(ctx, f)
	case *redis.Client:
		return f(ctx, c)
	}
	return errors.New("unknown client type: cannot reach its masters one by one")
}

// readConfigs reads the persistence settings of every master.
func (s *Store) readConfigs(ctx context.Context) ([]nodeConfig, error) {
	var mu sync.Mutex
	var out []nodeConfig
	err := masters(ctx, s.client, func(ctx context.Context, c *redis.Client) error {
		n := nodeConfig{addr: c.Options().Addr}
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, name := range []string{"appendonly", "save", "maxmemory", "maxmemory-policy"} {
				p.ConfigGet(ctx, name)
			}
			return nil
		})
		if err != nil {
			var rerr redis.Error
			if !errors.As(err, &rerr) {
				return err // unreachable: the check failed
			}
			n.err = err // CONFIG refused
		} else {
			vals := map[string]string{}
			for _, cmd := range cmds {
				for k, v := range cmd.(*redis.MapStringStringCmd).Val() {
					vals[k] = v
				}
			}
			n.appendonly, n.save, n.maxmemory, n.policy = vals["appendonly"], vals["save"], vals["maxmemory"], vals["maxmemory-policy"]
		}
		mu.Lock()
		out = append(out, n)
		mu.Unlock()
		return nil
	})
	return out, err
}

// checkPersistence reads every master's settings and reports what would
// lose completed keys: loudly in the log and as OutcomeUnsafe events.
// With strict (RequirePersistence) it returns an error wrapping
// ErrNoPersistence for a master without persistence or one it could not
// check; otherwise it returns only the error that prevented the check.
func (s *Store) checkPersistence(ctx context.Context, strict bool) error {
	nodes, err := s.readConfigs(ctx)
	if err != nil {
		if strict {
			return fmt.Errorf("%w: could not check: %v", ErrNoPersistence, err)
		}
		return err
	}
	s.mu.Lock()
	s.checked = true
	s.mu.Unlock()
	var bad []string
	for _, n := range nodes {
		switch {
		case n.err != nil:
			s.log.Warn("could not check whether Redis persists idempotency keys (CONFIG GET refused): "+
				"make sure AOF or RDB is on, and maxmemory-policy is noeviction, or a restart re-runs completed work",
				slog.String("node", n.addr), slog.String("error", n.err.Error()))
			if strict {
				bad = append(bad, n.addr+" (CONFIG GET refused: "+n.err.Error()+")")
			}
		case !n.persists():
			s.log.Error("IDEMPOTENCY REDIS HAS NO PERSISTENCE: a restart forgets every completed key, "+
				"and retries after it run the work again; turn on AOF (appendonly yes) or RDB (save)",
				slog.String("node", n.addr), slog.String("appendonly", n.appendonly), slog.String("save", n.save))
			s.events.Emit(context.Background(), event.Event{Kind: event.KindStore, Outcome: event.OutcomeUnsafe,
				Component: event.ComponentIdempotency, Err: fmt.Errorf("%w (node %s)", ErrNoPersistence, n.addr)})
			bad = append(bad, n.addr)
		}
		if n.err == nil && n.evicts() {
			s.log.Error("IDEMPOTENCY REDIS MAY EVICT KEYS: under memory pressure it drops completed keys and leases, "+
				"and retries run the work again; set maxmemory-policy noeviction (or no maxmemory)",
				slog.String("node", n.addr), slog.String("maxmemory", n.maxmemory), slog.String("maxmemory-policy", n.policy))
			s.events.Emit(context.Background(), event.Event{Kind: event.KindStore, Outcome: event.OutcomeUnsafe,
				Component: event.ComponentIdempotency, Err: fmt.Errorf("%w (node %s)", errEvicts, n.addr)})
		}
	}
	if strict && len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrNoPersistence, strings.Join(bad, ", "))
	}
	return nil
}

// markerKeys returns the marker keys, one per master.
func (s *Store) markerKeys(ctx context.Context) ([]string, error) {
	tags, err := redisclient.MasterTags(ctx, s.client, "m")
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = s.prefix + "marker:{" + t + "}"
	}
	return keys, nil
}

// checkMarkers checks that every marker written before still exists,
// reports the ones that vanished (Redis lost its data) and writes the
// missing ones. It returns whether a loss was found.
func (s *Store) checkMarkers(ctx context.Context) (bool, error) {
	keys, err := s.markerKeys(ctx)
	if err != nil {
		return false, err
	}
	cmds, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Exists(ctx, k)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	var lost []string
	var missing []string
	s.mu.Lock()
	for i, k := range keys {
		if cmds[i].(*redis.IntCmd).Val() == 1 {
			s.markers[k] = true
			continue
		}
		missing = append(missing, k)
		if s.markers[k] {
			lost = append(lost, k)
		}
	}
	s.mu.Unlock()
	if len(lost) > 0 {
		s.log.Error("IDEMPOTENCY REDIS LOST ITS DATA: a marker key written earlier is gone (restart without persistence, "+
			"FLUSHALL, or eviction); completed keys are forgotten and their retries run the work again",
			slog.Any("markers", lost))
		s.events.Emit(context.Background(), event.Event{Kind: event.KindStore, Outcome: event.OutcomeDataLost,
			Component: event.ComponentIdempotency,
			Err:       fmt.Errorf("idempotency/redisstore: marker keys %s vanished from Redis", strings.Join(lost, ", "))})
	}
	if len(missing) > 0 {
		value := "errkit idempotency marker, written " + time.Now().UTC().Format(time.RFC3339)
		wcmds, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range missing {
				p.SetNX(ctx, k, value, 0)
			}
			return nil
		})
		if err != nil {
			return len(lost) > 0, err
		}
		s.mu.Lock()
		for i, k := range missing {
			if wcmds[i].Err() == nil {
				s.markers[k] = true
			}
		}
		s.mu.Unlock()
	}
	return len(lost) > 0, nil
}

// releasePending releases, by token, the leases of failed calls. An entry
// whose node does not answer (an outage, or its gate is open) is kept for
// the next round, and so are the later entries of that node, untried: one
// dead master costs one timeout per round, and the other masters' entries
// are released regardless. An entry Redis answered with an error is
// logged and dropped (it will never succeed; its lease expires with its
// TTL), so that it cannot hold up the others.
func (s *Store) releasePending(ctx context.Context) {
	s.mu.Lock()
	todo := s.doubtful
	s.doubtful = nil
	s.mu.Unlock()
	var left []pending
	down := map[string]bool{} // nodes that did not answer in this round
	for i, p := range todo {
		if ctx.Err() != nil {
			left = append(left, todo[i:]...)
			break
		}
		rkey := s.prefix + p.key
		rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		node := s.gate.Node(rctx, rkey)
		if down[node] || s.gate.Allow(node) != nil {
			cancel()
			left = append(left, p)
			continue
		}
		err := releaseScript.Run(rctx, s.client, []string{rkey}, leaseTag+p.token).Err()
		cancel()
		s.gate.Record(ctx, node, rkey, err)
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, redis.ErrClosed) || redisclient.IsOutage(ctx, err):
			left = append(left, p)
			down[node] = true
		default:
			s.log.Error("could not release a lease whose call failed: Redis refused the release, so the key stays in use until its lease expires",
				nodeAttrs(node, slog.String("key", rkey), slog.String("error", err.Error()))...)
		}
	}
	if len(left) == 0 {
		return
	}
	s.mu.Lock()
	s.doubtful = append(left, s.doubtful...)
	if n := len(s.doubtful) - maxDoubtful; n > 0 {
		s.doubtful = s.doubtful[n:]
	}
	s.mu.Unlock()
}

// background runs the checks: the persistence check until it concludes
// (and again after a data loss), the markers every CheckInterval, and
// the pending releases when woken and every CheckInterval.
func (s *Store) background(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.CheckInterval)
	defer t.Stop()
	round := func(checks bool) {
		if !s.noRelease.Load() {
			s.releasePending(ctx)
		}
		if !checks || s.gate.Down() {
			// The checks read every master: with one failing they would
			// wait out Timeout each round, holding up the releases.
			return
		}
		s.mu.Lock()
		checked := s.checked
		s.mu.Unlock()
		if !checked {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
			_ = s.checkPersistence(cctx, false)
			cancel()
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		lost, _ := s.checkMarkers(cctx)
		cancel()
		s.rounds.Add(1)
		if lost {
			s.mu.Lock()
			s.checked = false // a restarted Redis may run another configuration
			s.mu.Unlock()
			cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
			_ = s.checkPersistence(cctx, false)
			cancel()
		}
	}
	round(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			round(false)
		case <-t.C:
			round(true)
		}
	}
}
