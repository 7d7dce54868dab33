package redisstore

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/layershq/errkit/killswitch"
)

// Shorthands, so the tests read like the package's own code.
type (
	Switch = killswitch.Switch
	Scope  = killswitch.Scope
)

const (
	ScopeKey          = killswitch.ScopeKey
	ScopeOrganization = killswitch.ScopeOrganization
	ScopeGlobal       = killswitch.ScopeGlobal
)

var discard = slog.New(slog.DiscardHandler)

// logRecord is one line a Store logged.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// logRecorder is a slog.Handler that keeps every record at info level and
// above, for tests to count and inspect. It is safe for concurrent use: the
// Store logs from its background goroutines.
type logRecorder struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	with  []slog.Attr // keys already qualified by their groups
	group string      // "" or "a.b." for attributes added below WithGroup
}

func newLogRecorder() (*slog.Logger, *logRecorder) {
	h := &logRecorder{mu: new(sync.Mutex), recs: new([]logRecord)}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: make(map[string]any)}
	for _, a := range h.with {
		rec.attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[h.group+a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, rec)
	return nil
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	with := slices.Clip(h.with)
	for _, a := range attrs {
		with = append(with, slog.Attr{Key: h.group + a.Key, Value: a.Value})
	}
	return &logRecorder{mu: h.mu, recs: h.recs, with: with, group: h.group}
}

func (h *logRecorder) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logRecorder{mu: h.mu, recs: h.recs, with: h.with, group: h.group + name + "."}
}

// matching returns the records whose message contains snippet.
func (h *logRecorder) matching(snippet string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range *h.recs {
		if strings.Contains(r.msg, snippet) {
			out = append(out, r)
		}
	}
	return out
}
