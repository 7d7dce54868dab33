package httperror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the stack log.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

//go:noinline
func explodeA(n int, s string) { panic(fmt.Sprintf("boom %d %s", n, s)) }

//go:noinline
func explodeB(n int) { panic(fmt.Errorf("bang %d", n)) }

// recovered panics with f on a fresh goroutine (so goroutine numbers and
// argument values differ between calls) and returns the recovered panic.
func recovered(f func()) *PanicError {
	ch := make(chan *PanicError)
	go func() {
		defer func() { ch <- Recovered(recover(), 0) }()
		f()
	}()
	return <-ch
}

// panicA panics at one call site; each panic has other arguments and
// another goroutine. Not inlined: an inlined copy of a closure is another
// function in the stack.
//
//go:noinline
func panicA(i int) *PanicError {
	return recovered(func() { explodeA(i, strings.Repeat("x", i)) })
}

// stackWriter returns a writer logging into buf with a fake clock.
func stackWriter(t *testing.T, interval time.Duration) (*Writer, *fakeClock, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), StackLogInterval: interval})
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	w.stacks.now = clock.now
	return w, clock, &buf
}

// render writes pe as the answer to a fresh request and returns the
// request ID the client saw.
func render(w *Writer, pe *PanicError) string {
	rec := httptest.NewRecorder()
	w.Write(rec, httptest.NewRequest(http.MethodGet, "/v1/x", nil), pe)
	return rec.Header().Get("X-Request-Id")
}

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, b := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestStackLogDedup(t *testing.T) {
	w, clock, buf := stackWriter(t, 0) // the default interval: one minute
	var ids []string
	for i := range 4 {
		ids = append(ids, render(w, panicA(i)))
		clock.advance(10 * time.Second)
	}
	lines := logLines(t, buf)
	require.Len(t, lines, 4)
	stackID := lines[0]["stackId"]
	require.NotEmpty(t, stackID)
	require.Contains(t, lines[0]["stack"], "explodeA", "the first line has the stack")
	assert.NotContains(t, lines[0], "stackRepeats")
	for i, l := range lines {
		assert.Equal(t, ids[i], l["requestId"], "every line is findable by its request ID")
		assert.Equal(t, fmt.Sprintf("panic: boom %d %s", i, strings.Repeat("x", i)), l["error"], "every line has its cause")
		assert.Equal(t, "INTERNAL", l["code"])
		assert.Equal(t, stackID, l["stackId"], "identical stacks share an ID despite other goroutines and arguments")
		if i > 0 {
			assert.NotContains(t, l, "stack", "line %d", i)
			assert.EqualValues(t, i, l["stackRepeat"], "line %d", i)
		}
	}

	// 40 s after the first line: still inside the interval. At 60 s the
	// stack is logged in full again, with the count of lines without it.
	clock.advance(20 * time.Second)
	render(w, panicA(9))
	render(w, panicA(10))
	lines = logLines(t, buf)
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0]["stack"], "explodeA")
	assert.EqualValues(t, 3, lines[0]["stackRepeats"])
	assert.Equal(t, stackID, lines[0]["stackId"])
	assert.NotContains(t, lines[1], "stack")
	assert.EqualValues(t, 1, lines[1]["stackRepeat"])
}

func TestStackLogPerCallSite(t *testing.T) {
	w, _, buf := stackWriter(t, time.Minute)
	for i := range 2 {
		render(w, recovered(func() { explodeA(i, "") }))
		render(w, recovered(func() { explodeB(i) }))
	}
	lines := logLines(t, buf)
	require.Len(t, lines, 4)
	assert.Contains(t, lines[0]["stack"], "explodeA")
	assert.Contains(t, lines[1]["stack"], "explodeB", "another call site is logged in full")
	assert.NotEqual(t, lines[0]["stackId"], lines[1]["stackId"])
	assert.NotContains(t, lines[2], "stack")
	assert.Equal(t, lines[0]["stackId"], lines[2]["stackId"])
	assert.NotContains(t, lines[3], "stack")
	assert.Equal(t, lines[1]["stackId"], lines[3]["stackId"])
}

func TestStackLogDisabled(t *testing.T) {
	w, _, buf := stackWriter(t, -1)
	for i := range 3 {
		render(w, recovered(func() { explodeA(i, "") }))
	}
	for _, l := range logLines(t, buf) {
		assert.Contains(t, l["stack"], "explodeA")
		assert.NotContains(t, l, "stackId")
		assert.NotContains(t, l, "stackRepeat")
	}
}

// TestStackLogBounded: past maxStacks distinct stacks, an unseen stack is
// logged in full and the table does not grow; expired entries make room.
func TestStackLogBounded(t *testing.T) {
	s := newStackLog(time.Minute)
	clock := &fakeClock{t: time.Unix(0, 0)}
	s.now = clock.now
	for i := range maxStacks + 10 {
		d := s.decide([]byte(fmt.Sprintf("goroutine 1 [running]:\nmain.f%d()\n\t/x.go:%d +0x1\n", i, i)))
		require.True(t, d.full, "stack %d is new", i)
	}
	assert.Len(t, s.stacks, maxStacks)
	clock.advance(time.Minute)
	d := s.decide([]byte("goroutine 1 [running]:\nmain.g()\n\t/x.go:1 +0x1\n"))
	assert.True(t, d.full)
	assert.Len(t, s.stacks, 1, "the expired entries were swept")
}

func TestSignature(t *testing.T) {
	seed := newStackLog(0).seed
	a := "goroutine 7 [running]:\nmain.f({0xc000012345, 0x3}, 0x1)\n\t/src/main.go:10 +0x1d\ncreated by main.main in goroutine 1\n\t/src/main.go:20 +0x2f\n"
	b := "goroutine 912 [running]:\nmain.f({0xc000099999, 0x7}, 0x2)\n\t/src/main.go:10 +0x1d\ncreated by main.main in goroutine 33\n\t/src/main.go:20 +0x2f\n"
	other := strings.Replace(a, "main.go:10", "main.go:11", 1)
	assert.Equal(t, signature(seed, []byte(a)), signature(seed, []byte(b)))
	assert.NotEqual(t, signature(seed, []byte(a)), signature(seed, []byte(other)))
}

// TestStackLogConcurrent: concurrent identical panics log the stack in full
// exactly once per interval, and every line has its request ID.
func TestStackLogConcurrent(t *testing.T) {
	w, _, buf := stackWriter(t, time.Hour)
	var mu sync.Mutex
	var logged bytes.Buffer
	w.log = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))
	pes := make([]*PanicError, 50)
	for i := range pes {
		pes[i] = recovered(func() { explodeA(i, "") })
	}
	var wg sync.WaitGroup
	for _, pe := range pes {
		wg.Go(func() { render(w, pe) })
	}
	wg.Wait()
	lines := logLines(t, &logged)
	require.Len(t, lines, 50)
	full, repeats := 0, map[float64]bool{}
	for _, l := range lines {
		assert.NotEmpty(t, l["requestId"])
		if _, ok := l["stack"]; ok {
			full++
		} else {
			repeats[l["stackRepeat"].(float64)] = true
		}
	}
	assert.Equal(t, 1, full)
	assert.Len(t, repeats, 49, "each repeat has its own count")
	assert.Zero(t, buf.Len())
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
