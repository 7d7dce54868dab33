package idempotency

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
)

// DefaultRedisPrefix prefixes the keys of a RedisStore created with an empty
// prefix.
const DefaultRedisPrefix = "errkit:idempotency:"

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
var errTokenNewline = errors.New("idempotency: redis store owner token contains a newline")

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

// RedisStore is a Store on Redis, shared by every instance of a service that
// uses the same Redis and prefix. Each idempotency key is one Redis key,
// prefix + 64 hex characters, holding either the lease (taken with SET NX PX,
// value "L" + owner token + "\n" + fingerprint, released with a Lua
// compare-and-delete on the owner token) or the stored response (SET PX
// ttl). Every script touches exactly one key, so the store works unchanged
// on Redis Cluster. Owner tokens must not contain a newline; the store
// answers an error for one that does.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisStore returns a RedisStore on client whose keys start with prefix
// (DefaultRedisPrefix when empty). The client is not closed by the store.
// Give it a client with ContextTimeoutEnabled, so that the middleware's
// StoreTimeout bounds each call's network I/O (otherwise go-redis waits up
// to its own ReadTimeout, 3 s by default).
func NewRedisStore(client redis.UniversalClient, prefix string) *RedisStore {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &RedisStore{client: client, prefix: prefix}
}

// Acquire implements Store.
func (s *RedisStore) Acquire(ctx context.Context, key, token, fingerprint string, leaseTTL time.Duration) (Lookup, error) {
	if strings.Contains(token, leaseSep) {
		return Lookup{}, errTokenNewline
	}
	lease := leaseTag + token + leaseSep + fingerprint
	v, err := acquireScript.Run(ctx, s.client, []string{s.prefix + key}, lease, millis(leaseTTL)).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return Lookup{State: Acquired}, nil
	case err != nil:
		return Lookup{}, fmt.Errorf("idempotency: redis acquire: %w", err)
	}
	switch {
	case strings.HasPrefix(v, leaseTag):
		_, fp, ok := strings.Cut(v[len(leaseTag):], leaseSep)
		if !ok {
			return Lookup{}, fmt.Errorf("idempotency: redis key %s holds a lease without fingerprint", s.prefix+key)
		}
		return Lookup{State: InProgress, Fingerprint: fp}, nil
	case strings.HasPrefix(v, recordTag):
		rec, err := decodeRecord([]byte(v[len(recordTag):]))
		if err != nil {
			return Lookup{}, err
		}
		return Lookup{State: Completed, Record: rec}, nil
	}
	return Lookup{}, fmt.Errorf("idempotency: redis key %s holds an unknown value", s.prefix+key)
}

// Renew implements Store.
func (s *RedisStore) Renew(ctx context.Context, key, token string, leaseTTL time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	n, err := renewScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, millis(leaseTTL)).Int()
	if err != nil {
		return fmt.Errorf("idempotency: redis renew: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Complete implements Store.
func (s *RedisStore) Complete(ctx context.Context, key, token string, rec Record, ttl time.Duration) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	enc, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	n, err := completeScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token, enc, millis(ttl)).Int()
	if err != nil {
		return fmt.Errorf("idempotency: redis complete: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Release implements Store.
func (s *RedisStore) Release(ctx context.Context, key, token string) error {
	if strings.Contains(token, leaseSep) {
		return errTokenNewline
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.prefix + key}, leaseTag+token).Err(); err != nil {
		return fmt.Errorf("idempotency: redis release: %w", err)
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
func encodeRecord(rec Record) (string, error) {
	b, err := json.Marshal(wireRecord{
		Version: recordVersion, Fingerprint: rec.Fingerprint, Status: rec.Status,
		Header: rec.Header, Body: rec.Body,
	})
	if err != nil {
		return "", fmt.Errorf("idempotency: encode record: %w", err)
	}
	return recordTag + string(b), nil
}

// decodeRecord parses the JSON part of a stored record.
func decodeRecord(b []byte) (*Record, error) {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("idempotency: decode record: %w", err)
	}
	if w.Version != recordVersion {
		return nil, fmt.Errorf("idempotency: stored record has version %d, want %d", w.Version, recordVersion)
	}
	if w.Status < 200 || w.Status > 299 {
		return nil, fmt.Errorf("idempotency: stored record has status %d", w.Status)
	}
	return &Record{Fingerprint: w.Fingerprint, Status: w.Status, Header: w.Header, Body: w.Body}, nil
}

// millis renders d as whole milliseconds for PX / PEXPIRE, at least 1.
func millis(d time.Duration) string {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(ms, 10)
}
