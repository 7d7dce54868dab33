// Package redisstore is the Redis implementation of [idempotency.Store]:
// one keyspace shared by every instance of a service, so that a retry
// reaching any instance replays the response another instance stored, and
// a key whose first request still runs on one instance is refused on all of
// them.
//
// A lease lives in Redis for its lease TTL and is renewed by its owner; a
// stored response lives for the Guard's TTL. Every operation is one atomic
// step on exactly one key, so the store works unchanged on Redis Cluster,
// and a lease is only ever renewed, completed or released by the owner
// token that took it. Values the store did not write (a key reused by
// another program, a record from a future version) are reported as errors,
// never replayed.
//
// It is kept out of package idempotency so that a service using only the
// memory store does not link go-redis.
package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redisclient"
)

// DefaultPrefix prefixes the keys of a Store whose Config.Prefix is empty.
const DefaultPrefix = "errkit:idempotency:"

// Value tags: a key holds either a lease ("L" + owner token + "\n" +
// fingerprint of the owner's request) or a stored response ("R" + JSON
// record).
const (
	leaseTag  = "L"
	recordTag = "R"
	// leaseSep ends the owner token in a lease value. Tokens must not
	// contain it, so that the token part of a value is unambiguous.
	leaseSep = "\n"
)

// recordVersion is the version of the stored JSON record format.
const recordVersion = 1

// errTokenNewline is returned for an owner token containing leaseSep.
var errTokenNewline = errors.New("idempotency/redisstore: owner token contains a newline")

// acquireScript returns the current value of KEYS[1], or takes the lease
// (SET NX PX, value ARGV[1]) and returns nil when there is none: lookup and
// acquisition in one atomic step, so a record stored between them can't be
// missed.
var acquireScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return false
`)

// owns is the Lua test that the value v of KEYS[1] is a lease of the owner
// ARGV[1] ("L" + token): the value starts with it followed by the separator.
const owns = `
local function owns(v)
  if not v then return false end
  return string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. '\n'
end
`

// renewScript extends the lease when ARGV[1] still owns it.
var renewScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// completeScript replaces the lease by the record when ARGV[1] still owns it.
var completeScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// releaseScript deletes the lease when ARGV[1] still owns it
// (compare-and-delete).
var releaseScript = redis.NewScript(owns + `
if owns(redis.call('GET', KEYS[1])) then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Config configures a [Store]. The zero value is valid.
type Config struct {
	// Prefix starts every Redis key of the store. Stores that share a
	// prefix on the same Redis share their keys: give every instance of a
	// service the same one, and different services different ones.
	// Default [DefaultPrefix].
	Prefix string
}

// ErrContextTimeoutDisabled is returned by [New] for a go-redis client
// whose options leave ContextTimeoutEnabled false: such a client ignores
// context deadlines on network I/O, so the Guard's StoreTimeout could not
// bound the store's calls.
var ErrContextTimeoutDisabled = errors.New("idempotency/redisstore: the Redis client must set ContextTimeoutEnabled so the store timeout holds")

// Store is an [idempotency.Store] on Redis, shared by every instance of a
// service that uses the same Redis and prefix. Each idempotency key is one
// Redis key, the prefix followed by 64 hex characters, holding either the
// lease of the request running under it or the stored response. It has no
// background goroutine and does not own the client, so it has nothing to
// close. Owner tokens must not contain a newline; the store answers an
// error for one that does.
type Store struct {
	client redis.UniversalClient
	prefix string
}

var _ idempotency.Store = (*Store)(nil)

// New returns a Store on client for cfg, or an error when client is nil.
// The client is not closed by the store. Give it a client with
// ContextTimeoutEnabled, so that the Guard's StoreTimeout bounds each
// call's network I/O (otherwise go-redis waits up to its own ReadTimeout,
// 3 s by default).
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if redisclient.IsNil(client) {
		return nil, errors.New("idempotency/redisstore: nil Redis client")
	}
	if !redisclient.HonoursDeadlines(client) {
		return nil, ErrContextTimeoutDisabled
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: cfg.Prefix}, nil
}

// Acquire implements [idempotency.Store].
func (s *Store) Acquire(ctx context.Context, key, token, fingerprint string, leaseTTL time.Duration) (idempotency.Lookup, error) {
	if strings.Contains(token, leaseSep) {
		return idempotency.Lookup{}, errTokenNewline
	}
	lease := leaseTag + token + leaseSep + fingerprint
	v, err := acquireScript.Run(ctx, s.client, []string{s.prefix + key}, lease, millis(leaseTTL)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return idempotency.Lookup{State: idempotency.Acquired}, nil
	case err != nil:
		return idempotency.Lookup{}, fmt.Errorf("idempotency/redisstore: acquire: %w", err)
	}
	switch {
	case strings.HasPrefix(v, leaseTag):
		_, fp, ok := strings.Cut(v[len(leaseTag):], leaseSep)
		if !ok {
			return idempotency.Lookup{}, fmt.Errorf("idempotency/redisstore: key %s holds a lease without fingerprint", s.prefix+key)
		}
		return idempotency.Lookup{State: idempotency.InProgress, Fingerprint: fp}, nil
	case strings.HasPrefix(v, recordTag):
		rec, err := decodeRecord([]byte(v[len(recordTag):]))
		if err != nil {
			return idempotency.Lookup{}, err
		}
		return idempotency.Lookup{State: idempotency.Completed, Record: rec}, nil
	}
	return idempotency.Lookup{}, fmt.Errorf("idempotency/redisstore: key %s holds an unknown value", s.prefix+key)
}

// Renew implements [idempotency.Store].
func (s *Store) Renew(ctx context.Context, key, token string, leaseTTL time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	n, err := renewScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, millis(leaseTTL)).Int()
	if err != nil {
		return fmt.Errorf("idempotency/redisstore: renew: %w", err)
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key, token string, rec idempotency.Record, ttl time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	enc, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	n, err := completeScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, enc, millis(ttl)).Int()
	if err != nil {
		return fmt.Errorf("idempotency/redisstore: complete: %w", err)
	}
	if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, key, token string) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token).Err(); err != nil {
		return fmt.Errorf("idempotency/redisstore: release: %w", err)
	}
	return nil
}

// wireRecord is the JSON form of a Record in Redis.
type wireRecord struct {
	Version     int         `json:"v"`
	Fingerprint string      `json:"f"`
	Status      int         `json:"s"`
	Header      http.Header `json:"h,omitempty"`
	Body        []byte      `json:"b,omitempty"`
}

// encodeRecord renders rec as a tagged Redis value.
func encodeRecord(rec idempotency.Record) (string, error) {
	b, err := json.Marshal(wireRecord{
		Version: recordVersion, Fingerprint: rec.Fingerprint, Status: rec.Status,
		Header: rec.Header, Body: rec.Body,
	})
	if err != nil {
		return "", fmt.Errorf("idempotency/redisstore: encode idempotency record: %w", err)
	}
	return recordTag + string(b), nil
}

// decodeRecord parses the JSON part of a stored record.
func decodeRecord(b []byte) (*idempotency.Record, error) {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("idempotency/redisstore: decode idempotency record: %w", err)
	}
	if w.Version != recordVersion {
		return nil, fmt.Errorf("idempotency/redisstore: stored idempotency record has version %d, want %d", w.Version, recordVersion)
	}
	if w.Status < 200 || w.Status > 299 {
		return nil, fmt.Errorf("idempotency/redisstore: stored idempotency record has status %d", w.Status)
	}
	return &idempotency.Record{Fingerprint: w.Fingerprint, Status: w.Status, Header: w.Header, Body: w.Body}, nil
}

// millis renders d as whole milliseconds for PX / PEXPIRE, at least 1.
func millis(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}
