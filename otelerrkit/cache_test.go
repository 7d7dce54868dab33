package otelerrkit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
)

// TestCacheOverflow checks that the counts stay bounded when a service has
// more attribute sets than a cache keeps: the rest are counted in one
// overflow series per counter.
func TestCacheOverflow(t *testing.T) {
	tests := []struct {
		name string
		run  func() (kept int, overflow int64)
	}{
		{name: "errors", run: func() (int, int64) {
			var c cache[errorKey]
			for i := range maxCachedAttributeSets + 10 {
				c.get(errorKey{code: apierror.CodeNotFound, route: fmt.Sprintf("/r%d", i), method: "GET", status: 404}, buildError).n.Add(1)
			}
			return len(c.byKey()), c.byKey()[overflowKey(errorKey{})].n.Load()
		}},
		{name: "others", run: func() (int, int64) {
			var c cache[otherKey]
			for i := range maxCachedAttributeSets + 10 {
				c.get(otherKey{kind: event.KindRateLimit, a: fmt.Sprintf("class%d", i), b: "allowed"}, buildOther).n.Add(1)
			}
			return len(c.byKey()), c.byKey()[overflowKey(otherKey{kind: event.KindRateLimit})].n.Load()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, overflow := tt.run()
			assert.Equal(t, maxCachedAttributeSets+1, kept, "the cap and the overflow series")
			assert.Equal(t, int64(10), overflow)
		})
	}
	var c cache[errorKey]
	s := c.get(errorKey{code: apierror.CodeInternal}, buildError)
	assert.Same(t, s, c.get(errorKey{code: apierror.CodeInternal}, buildError), "one series per key")
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.get(errorKey{code: apierror.CodeInternal}, buildError).n.Add(1) }))
}

// typeSpan is a recording span that keeps the last error.type it is given.
type typeSpan struct {
	tracenoop.Span
	errorType string
}

func (s *typeSpan) IsRecording() bool { return true }
func (s *typeSpan) SetAttributes(kvs ...attribute.KeyValue) {
	for _, kv := range kvs {
		if kv.Key == ErrorTypeKey {
			s.errorType = kv.Value.AsString()
		}
	}
}

// TestHookOverflow sends more error attribute sets through the Hook than
// its cache keeps: the count stays bounded (the cap and one overflow
// series) and exact, and every span still gets its own code as
// error.type, from the series' prebuilt attribute or, for the overflow
// series that many codes share, built per request.
func TestHookOverflow(t *testing.T) {
	in := &instruments{}
	codes := []apierror.Code{apierror.CodeNotFound, apierror.CodeValidation, apierror.CodeInternal}
	const n = maxCachedAttributeSets + 50
	for i := range n {
		span := &typeSpan{}
		code := codes[i%len(codes)]
		in.hook(trace.ContextWithSpan(context.Background(), span),
			event.Event{Kind: event.KindError, Code: code, Status: 400, Method: "GET", Route: fmt.Sprintf("/r%d", i)})
		require.Equal(t, string(code), span.errorType, "request %d", i)
	}
	byKey := in.errorCounts.byKey()
	assert.Len(t, byKey, maxCachedAttributeSets+1)
	var total int64
	for _, s := range byKey {
		total += s.n.Load()
	}
	assert.Equal(t, int64(n), total, "every error counted once")
	assert.Equal(t, int64(n-maxCachedAttributeSets), byKey[overflowKey(errorKey{})].n.Load())
	assert.Nil(t, byKey[overflowKey(errorKey{})].errorType, "the overflow series has no code of its own")
}

// TestCounter checks the sharded count: exact under concurrent adds, with
// one shard (a one-CPU machine's, without the pool) and with several, and
// one cache line per shard.
func TestCounter(t *testing.T) {
	assert.Equal(t, uintptr(64), unsafe.Sizeof(shard{}), "a shard is a cache line")
	assert.Equal(t, 0, shardCount&(shardCount-1), "a power of two")
	for _, shards := range []int{1, 2, 16} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			c := counter{shards: make([]shard, shards)}
			const goroutines, adds = 8, 1000
			var wg sync.WaitGroup
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range adds {
						c.Add(1)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int64(goroutines*adds), c.Load())
			assert.Zero(t, testing.AllocsPerRun(100, func() { c.Add(1) }))
		})
	}
}
