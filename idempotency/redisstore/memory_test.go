package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/idempotency"
	"github.com/layershq/errkit/internal/redistest"
)

// TestMemoryPerKey measures what a lease and a stored response cost Redis
// (MEMORY USAGE, Redis 7, jemalloc), for the figures in
// docs/idempotency.md. Run with -v to see them:
//
//	go test -run TestMemoryPerKey -v ./idempotency/redisstore
func TestMemoryPerKey(t *testing.T) {
	inst := redistest.Private(t)
	c := inst.Client(t)
	s, err := New(c, Config{Logger: discard}) // the default prefix, as in production
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	fp := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		body int // bytes of response body; -1 for a lease
		max  int64
	}{
		{"lease", -1, 300},
		{"record, empty body", 0, 400},
		{"record, 200-byte body", 200, 700},
		{"record, 1 KiB body", 1024, 2200},
		{"record, 10 KiB body", 10 * 1024, 15000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(tc.name))
			key := hex.EncodeToString(sum[:])
			lk, err := s.Acquire(ctx, key, "tok_"+strconv.Itoa(tc.body), fp, time.Minute)
			require.NoError(t, err)
			require.Equal(t, idempotency.Acquired, lk.State)
			if tc.body >= 0 {
				require.NoError(t, s.Complete(ctx, key, "tok_"+strconv.Itoa(tc.body), idempotency.Record{
					Fingerprint: fp, Status: 201,
					Header: http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/content/cnt_0123456789"}},
					Body:   []byte(strings.Repeat("x", tc.body)),
				}, time.Hour))
			}
			used, err := c.MemoryUsage(ctx, DefaultPrefix+key, 0).Result()
			require.NoError(t, err)
			t.Logf("%s: %d bytes (MEMORY USAGE %s SAMPLES 0)", tc.name, used, DefaultPrefix+key)
			assert.Less(t, used, tc.max)
		})
	}
}
