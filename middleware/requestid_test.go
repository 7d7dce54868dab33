package middleware

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/layershq/errkit/apierror"
)

// TestEveryResponseHasRequestID serves every kind of response and checks
// that each carries one well-formed X-Request-Id, equal to the body's
// requestId on errors, and that no two responses share an ID.
func TestEveryResponseHasRequestID(t *testing.T) {
	e, _ := newEcho(t, Config{})
	e.GET("/ok", okHandler)
	e.HEAD("/ok", okHandler)
	e.HEAD("/internal", func(echo.Context) error { return errors.New("boom") })
	e.POST("/upload", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, BodyLimit(4))
	e.GET("/validation", func(echo.Context) error { return apierror.Validation(apierror.Issue{Path: "a", Message: "b"}) })
	e.GET("/internal", func(echo.Context) error { return errors.New("boom") })
	e.GET("/panic", func(echo.Context) error { panic("boom") })
	e.GET("/ratelimited", func(echo.Context) error { return apierror.RateLimited(1500 * time.Millisecond) })
	e.GET("/killswitch", func(echo.Context) error { return apierror.KillSwitch(apierror.ScopeGlobal) })

	cases := []struct {
		name, method, target string
		body                 string
		status               int
		code                 string // "" for a success
	}{
		{"success", http.MethodGet, "/ok", "", 200, ""},
		{"HEAD success", http.MethodHead, "/ok", "", 200, ""},
		{"validation", http.MethodGet, "/validation", "", 422, "VALIDATION"},
		{"internal", http.MethodGet, "/internal", "", 500, "INTERNAL"},
		{"panic", http.MethodGet, "/panic", "", 500, "INTERNAL"},
		{"router 404", http.MethodGet, "/nowhere", "", 404, "NOT_FOUND"},
		{"router 405", http.MethodPut, "/ok", "", 404, "NOT_FOUND"},
		{"body limit 413", http.MethodPost, "/upload", "too large", 413, "PAYLOAD_TOO_LARGE"},
		{"rate limited 429", http.MethodGet, "/ratelimited", "", 429, "RATE_LIMITED"},
		{"kill switch 503", http.MethodGet, "/killswitch", "", 503, "KILL_SWITCH"},
		{"HEAD error", http.MethodHead, "/internal", "", 500, ""},
		{"HEAD 404", http.MethodHead, "/nowhere", "", 404, ""},
	}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd *strings.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			var rec = do(e, c.method, c.target, nilIfEmpty(rd))
			id := rec.Header().Get(HeaderRequestID)
			require.True(t, ValidRequestID(id), "X-Request-Id %q", id)
			require.Len(t, rec.Header().Values(HeaderRequestID), 1)
			if prev, dup := seen[id]; dup {
				t.Fatalf("request ID %s reused by %q and %q", id, prev, c.name)
			}
			seen[id] = c.name
			if c.code != "" {
				requireEnvelope(t, rec, c.status, c.code)
			} else {
				require.Equal(t, c.status, rec.Code)
			}
			if c.method == http.MethodHead && c.status >= 400 { // our handler writes no body for HEAD
				assert.Empty(t, rec.Body.String())
			}
		})
	}
}

func nilIfEmpty(r *strings.Reader) interface {
	Read([]byte) (int, error)
} {
	if r == nil {
		return nil
	}
	return r
}

// TestRequestIDInContexts checks the accessors: echo context, request
// context, a context derived from it, and after another middleware replaced
// the request's context.
func TestRequestIDInContexts(t *testing.T) {
	e, _ := newEcho(t, Config{})
	type seen struct{ echoID, ctxID, derivedID, afterSetID string }
	got := make(chan seen, 1)
	replaceCtx := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			type k struct{}
			r := c.Request()
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), k{}, 1)))
			return next(c)
		}
	}
	e.GET("/x", func(c echo.Context) error {
		derived, cancel := context.WithTimeout(c.Request().Context(), time.Minute)
		defer cancel()
		got <- seen{RequestIDFrom(c), RequestIDFromContext(c.Request().Context()), RequestIDFromContext(derived), ""}
		return c.NoContent(http.StatusNoContent)
	}, replaceCtx)
	rec := do(e, http.MethodGet, "/x", nil)
	id := rec.Header().Get(HeaderRequestID)
	require.True(t, ValidRequestID(id))
	s := <-got
	assert.Equal(t, seen{id, id, id, ""}, s)

	// Without the middleware the accessors return zero values.
	bare := echo.New()
	c := bare.NewContext(httptestRequest(), nil)
	assert.Empty(t, RequestIDFrom(c))
	assert.Empty(t, RequestIDFromContext(context.Background()))
	assert.Same(t, DefaultLogger(), LoggerFrom(c))
	assert.Same(t, DefaultLogger(), LoggerFromContext(context.Background()))
}

// TestLoggerFrom checks that the request logger carries requestId, is built
// once and is shared by LoggerFrom and LoggerFromContext.
func TestLoggerFrom(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	e := echo.New()
	e.Use(RequestIDWithConfig(RequestIDConfig{Logger: zap.New(core).With(zap.String("svc", "api"))}))
	e.GET("/x", func(c echo.Context) error {
		l := LoggerFrom(c)
		assert.Same(t, l, LoggerFrom(c))
		assert.Same(t, l, LoggerFromContext(c.Request().Context()))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); assert.Same(t, l, LoggerFrom(c)) }()
		}
		wg.Wait()
		l.Info("charging card")
		return c.NoContent(http.StatusNoContent)
	})
	rec := do(e, http.MethodGet, "/x", nil)
	id := rec.Header().Get(HeaderRequestID)
	lines := logs.FilterMessage("charging card").All()
	require.Len(t, lines, 1)
	assert.Equal(t, map[string]any{"requestId": id, "svc": "api"}, lines[0].ContextMap())
}

// TestInboundRequestID feeds hostile and valid X-Request-Id values with
// TrustInbound off and on: only a single well-formed req_<ULID> is ever
// accepted, and a rejected value is neither echoed nor logged.
func TestInboundRequestID(t *testing.T) {
	valid := NewRequestID()
	cases := []struct {
		name   string
		values []string
		ok     bool // accepted when TrustInbound is on
	}{
		{"valid", []string{valid}, true},
		{"lowercase", []string{"req_" + strings.ToLower(valid[4:])}, false},
		{"CRLF injection", []string{valid + "\r\nSet-Cookie: a=b"}, false},
		{"10 KB", []string{"req_" + strings.Repeat("A", 10<<10)}, false},
		{"non-ASCII", []string{"req_01HXZ9G7KMV2QX8Y1S5RJW3BÄ"}, false},
		{"no prefix", []string{valid[4:]}, false},
		{"other prefix", []string{"rq__" + valid[4:]}, false},
		{"overflowing ULID", []string{"req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, false},
		{"excluded letter U", []string{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7U"}, false},
		{"two values", []string{valid, NewRequestID()}, false},
		{"empty", []string{""}, false},
	}
	for _, trust := range []bool{false, true} {
		for _, c := range cases {
			t.Run(c.name+map[bool]string{false: "/trust off", true: "/trust on"}[trust], func(t *testing.T) {
				e, logs := newEcho(t, Config{RequestID: RequestIDConfig{TrustInbound: trust}})
				e.GET("/x", func(c echo.Context) error {
					LoggerFrom(c).Info("handler line")
					return errors.New("boom")
				})
				req := httptestRequest()
				req.Header[HeaderRequestID] = c.values
				rec := serve(e, req)
				env := requireEnvelope(t, rec, 500, "INTERNAL")
				id := env.Error.RequestID
				if trust && c.ok {
					assert.Equal(t, c.values[0], id)
					return
				}
				for _, v := range c.values {
					assert.NotEqual(t, v, id)
					if v == "" {
						continue
					}
					requireNoSecret(t, rec.Header(), rec.Body.String(), v)
					assert.NotContains(t, joinLog(logs.All()), v)
				}
				assert.Len(t, linesWith(logs, id), 2, "handler line and error line carry the fresh ID")
			})
		}
	}
}

// TestValidRequestID checks the well-formedness rule.
func TestValidRequestID(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T", true},
		{"req_00000000000000000000000000", true},
		{"req_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true},
		{"req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"req_01hxz9g7kmv2qx8y1s5rjw3b7t", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3B7TT", false},
		{"REQ_01HXZ9G7KMV2QX8Y1S5RJW3B7T", false},
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BIT", false}, // I is not Crockford
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BOT", false}, // O neither
		{"req_01HXZ9G7KMV2QX8Y1S5RJW3BLT", false}, // L neither
		{"", false},
	} {
		assert.Equal(t, c.ok, ValidRequestID(c.s), c.s)
	}
}

// TestEncodeIDMatchesULID checks the hand-written encoder against the ulid
// package on random and edge values.
func TestEncodeIDMatchesULID(t *testing.T) {
	vals := [][2]uint64{{0, 0}, {^uint64(0), ^uint64(0)}, {1, 0}, {0, 1}, {1 << 63, 1 << 63}, {1, 1 << 63}}
	for range 1000 {
		var b [16]byte
		_, _ = rand.Read(b[:])
		vals = append(vals, [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])})
	}
	for _, v := range vals {
		var u ulid.ULID
		binary.BigEndian.PutUint64(u[:8], v[0])
		binary.BigEndian.PutUint64(u[8:], v[1])
		var buf [requestIDLen]byte
		encodeID(&buf, v[0], v[1])
		require.Equal(t, "req_"+u.String(), string(buf[:]))
		require.True(t, ValidRequestID(string(buf[:])))
	}
}

// TestRequestIDOrdering checks "IDs from one process sort by creation time":
// the ULID timestamp is the creation millisecond, IDs generated one after the
// other sort in that order even within one millisecond (by the nanosecond
// that follows it), and IDs handed from goroutine to goroutine
// (happens-before) keep sorting in creation order.
func TestRequestIDOrdering(t *testing.T) {
	before := time.Now().UnixMilli()
	seq := make([]string, 10000)
	for i := range seq {
		seq[i] = NewRequestID()
	}
	after := time.Now().UnixMilli()
	require.True(t, slices.IsSorted(seq))
	require.Len(t, slices.Compact(slices.Clone(seq)), len(seq), "unique")
	sameMs := 0
	for i, id := range seq {
		ms := int64(ulid.MustParseStrict(id[4:]).Time())
		require.GreaterOrEqual(t, ms, before-1) // monotonic-clock ms vs wall clock: allow rounding
		require.LessOrEqual(t, ms, after+1)
		if i > 0 && ms == int64(ulid.MustParseStrict(seq[i-1][4:]).Time()) {
			sameMs++
		}
	}
	require.Positive(t, sameMs, "the test must cover IDs within one millisecond")

	// The 20 bits after the millisecond are the nanosecond within it, and
	// the last 60 bits are random: no two consecutive IDs differ by a small
	// step there (a counter would make the next ID guessable).
	for i, id := range seq {
		u := ulid.MustParseStrict(id[4:])
		hi, lo := binary.BigEndian.Uint64(u[:8]), binary.BigEndian.Uint64(u[8:])
		sub := (hi&0xFFFF)<<4 | lo>>60
		require.Less(t, sub, uint64(1e6), "nanosecond within the millisecond")
		if i > 0 {
			p := ulid.MustParseStrict(seq[i-1][4:])
			prev := binary.BigEndian.Uint64(p[8:]) & (1<<60 - 1)
			diff := int64(lo&(1<<60-1)) - int64(prev)
			require.False(t, diff > -1000 && diff < 1000, "random bits of %s follow those of %s", id, seq[i-1])
		}
	}

	// A relay across goroutines: each goroutine makes its ID after the
	// previous one finished (happens-before through the channel), so the
	// creation order is the relay order.
	relay := make([]string, 2000)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i := range relay {
		go func() { relay[i] = NewRequestID(); done <- struct{}{} }()
		<-done
	}
	require.True(t, slices.IsSorted(relay))

	// Concurrent generation: every ID unique, each goroutine's own sequence
	// sorted.
	var mu sync.Mutex
	all := map[string]bool{}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]string, 2000)
			for i := range mine {
				mine[i] = NewRequestID()
			}
			assert.True(t, slices.IsSorted(mine))
			mu.Lock()
			defer mu.Unlock()
			for _, id := range mine {
				assert.False(t, all[id], "duplicate %s", id)
				all[id] = true
			}
		}()
	}
	wg.Wait()
	assert.Len(t, all, 8*2000)
}

// TestRequestIDSkipper checks that a skipped request gets no ID in its
// context and that its error response still gets a fresh, consistent one.
func TestRequestIDSkipper(t *testing.T) {
	e, logs := newEcho(t, Config{RequestID: RequestIDConfig{Skipper: func(echo.Context) bool { return true }}})
	var inHandler string
	e.GET("/x", func(c echo.Context) error { inHandler = RequestIDFrom(c); return errors.New("boom") })
	rec := do(e, http.MethodGet, "/x", nil)
	env := requireEnvelope(t, rec, 500, "INTERNAL")
	assert.Empty(t, inHandler)
	assert.Len(t, linesWith(logs, env.Error.RequestID), 1)
}

// TestRequestIDStandalone checks RequestID used on its own, with echo's
// default error handler: the header is still set.
func TestRequestIDStandalone(t *testing.T) {
	e := echo.New()
	e.Pre(RequestID())
	e.GET("/x", okHandler)
	rec := do(e, http.MethodGet, "/nowhere", nil)
	assert.Equal(t, 404, rec.Code)
	assert.True(t, ValidRequestID(rec.Header().Get(HeaderRequestID)))
	_ = echomw.DefaultSkipper
}

// TestRequestIDCoarseClock: with the strictly increasing time bits used
// where the clock is coarse, IDs made one after the other (also across
// goroutines that synchronise) sort in creation order and their time bits
// never repeat, whatever the clock's resolution.
func TestRequestIDCoarseClock(t *testing.T) {
	now := time.Now()
	g := &idGenerator{startNs: now.UnixNano(), start: now, coarse: true}
	timeBits := func(id string) uint64 {
		u := ulid.MustParseStrict(id[4:])
		return binary.BigEndian.Uint64(u[:8])<<4 | binary.BigEndian.Uint64(u[8:])>>60
	}
	gen := func() string {
		var b [requestIDLen]byte
		g.fill(&b)
		return string(b[:])
	}
	seq := make([]string, 20000)
	for i := range seq {
		seq[i] = gen()
	}
	require.True(t, slices.IsSorted(seq))
	for i := 1; i < len(seq); i++ {
		require.Greater(t, timeBits(seq[i]), timeBits(seq[i-1]))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := map[uint64]bool{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				tb := timeBits(gen())
				mu.Lock()
				assert.False(t, all[tb], "time bits repeated")
				all[tb] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Len(t, all, 4*2000)
}
