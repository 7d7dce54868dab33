package retry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/stretchr/testify/require"
)

// fakeClock records every wait instead of sleeping. In blocking mode, Sleep
// announces itself on sleeping and then waits for the context to end.
type fakeClock struct {
	mu       sync.Mutex
	now      time.Time
	waits    []time.Duration
	block    bool
	sleeping chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC), sleeping: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	block := c.block
	c.mu.Unlock()
	if block {
		c.sleeping <- struct{}{}
		<-ctx.Done()
	}
	return ctx.Err()
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// hit is one request a scripted server received.
type hit struct {
	Method string
	Key    string
	Body   string
	Header http.Header
}

// script is an httptest server answering hit i with steps[i] (the last step
// repeats) and recording every request.
type script struct {
	mu    sync.Mutex
	hits  []hit
	steps []http.HandlerFunc
}

func newScript(t *testing.T, steps ...http.HandlerFunc) (*httptest.Server, *script) {
	t.Helper()
	require.NotEmpty(t, steps)
	s := &script{steps: steps}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		i := len(s.hits)
		s.hits = append(s.hits, hit{Method: r.Method, Key: r.Header.Get(IdempotencyKeyHeader), Body: string(b), Header: r.Header.Clone()})
		step := s.steps[min(i, len(s.steps)-1)]
		s.mu.Unlock()
		w.Header().Set("X-Request-Id", "req_"+strconv.Itoa(i+1))
		step(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func (s *script) Hits() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

// ok answers 200 with body.
func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) }
}

// fail answers with e's envelope, its requestId the X-Request-Id, and the
// given header pairs (as the middleware sets Retry-After).
func fail(e *apierror.Error, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.Status())
		_, _ = w.Write(e.Render(w.Header().Get("X-Request-Id")))
	}
}

// raw answers status with body and header pairs.
func raw(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// hangup closes the connection without answering.
func hangup(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("hijack: %v", err))
	}
	_ = conn.Close()
}

// recorder collects the attempts a Transport reports.
type recorder struct {
	mu       sync.Mutex
	attempts []Attempt
}

func (r *recorder) On(a Attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, a)
}

func (r *recorder) Decisions() []Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Decision
	for _, a := range r.attempts {
		out = append(out, a.Decision)
	}
	return out
}

func half() float64 { return 0.5 }

func itoa(i int) string { return strconv.Itoa(i) }

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
