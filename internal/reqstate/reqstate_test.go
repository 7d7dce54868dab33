package reqstate

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type otherKey struct{}

// TestStateIsTheContext: the state answers for itself through contexts
// derived from it, and defers other keys to the parent.
func TestStateIsTheContext(t *testing.T) {
	parent := context.WithValue(context.Background(), otherKey{}, "parent value")
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(parent)
	s := New(slog.New(slog.DiscardHandler))
	s.ID = "req_TEST"
	r2 := s.Attach(r)
	require.NotSame(t, r, r2)
	assert.Nil(t, From(r.Context()), "the original request is not changed")
	assert.Same(t, s, From(r2.Context()))

	derived, cancel := context.WithCancel(context.WithValue(r2.Context(), otherKey{}, "shadow"))
	defer cancel()
	assert.Same(t, s, From(derived), "found through derived contexts")
	assert.Equal(t, "parent value", s.Value(otherKey{}))
	assert.Nil(t, From(nil))
	assert.Nil(t, From(context.Background()))
	assert.Equal(t, "errkit.requestContext", s.String())
}

// TestConcurrentUse: the logger is built once however many goroutines ask,
// and rendering is recorded safely while another goroutine reads it (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler))
	s.ID = "req_TEST"
	var wg sync.WaitGroup
	loggers := make([]*slog.Logger, 8)
	errA := errors.New("a")
	for i := range loggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loggers[i] = s.Logger()
			s.MarkRendered(errA, "INTERNAL")
			_, _, _ = s.Rendered()
		}()
	}
	wg.Wait()
	for _, l := range loggers {
		assert.Same(t, loggers[0], l)
	}
	err, code, ok := s.Rendered()
	assert.True(t, ok)
	assert.Same(t, errA, err)
	assert.Equal(t, "INTERNAL", code)

	fresh := New(slog.New(slog.DiscardHandler))
	_, _, ok = fresh.Rendered()
	assert.False(t, ok, "nothing rendered yet")
}
