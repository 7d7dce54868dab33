package httperror

import (
	"bytes"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// DefaultStackLogInterval is how long a recovered panic's stack, once
// logged in full, is replaced by a reference in the lines of identical
// panics, when [Config].StackLogInterval is zero.
const DefaultStackLogInterval = time.Minute

// maxStacks bounds the distinct stacks remembered. Past it, expired ones
// are dropped; if none has expired, a new stack is logged in full without
// being remembered, so memory stays bounded and nothing is lost.
const maxStacks = 1024

// stackLog decides, per distinct panic stack, whether a log line carries
// the stack in full: the first time, then at most once per interval. The
// lines in between carry the stack's ID and a repeat count instead, and
// keep the request ID and the cause, so every INTERNAL stays findable.
type stackLog struct {
	interval time.Duration // <= 0: every stack in full
	now      func() time.Time
	seed     maphash.Seed

	mu     sync.Mutex
	stacks map[uint64]*stackEntry
}

type stackEntry struct {
	logged  time.Time // when it was last logged in full
	repeats int       // identical panics since then
}

func newStackLog(interval time.Duration) *stackLog {
	if interval == 0 {
		interval = DefaultStackLogInterval
	}
	return &stackLog{interval: interval, now: time.Now, seed: maphash.MakeSeed(), stacks: map[uint64]*stackEntry{}}
}

// stackDecision is what one log line says about a panic's stack.
type stackDecision struct {
	id      string // the stack's ID: the same for identical stacks
	full    bool   // log the stack itself
	repeats int    // full: identical panics left out since the last full line; otherwise this line's repeat number
}

// decide returns how the line for a panic with stack logs it.
func (s *stackLog) decide(stack []byte) stackDecision {
	if s == nil || s.interval < 0 {
		return stackDecision{full: true}
	}
	sum := signature(s.seed, stack)
	d := stackDecision{id: strconv.FormatUint(sum, 16)}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.stacks[sum]
	switch {
	case !ok:
		if len(s.stacks) >= maxStacks {
			s.sweep(now)
		}
		if len(s.stacks) < maxStacks {
			s.stacks[sum] = &stackEntry{logged: now}
		}
		d.full = true
	case now.Sub(e.logged) >= s.interval:
		d.full, d.repeats = true, e.repeats
		e.logged, e.repeats = now, 0
	default:
		e.repeats++
		d.repeats = e.repeats
	}
	return d
}

// sweep drops the stacks whose interval has passed: their next panic is
// logged in full anyway.
func (s *stackLog) sweep(now time.Time) {
	for k, e := range s.stacks {
		if now.Sub(e.logged) >= s.interval {
			delete(s.stacks, k)
		}
	}
}

// signature hashes what identifies the call site in a runtime.Stack dump:
// the function names and file:line of every frame, without the goroutine
// number, argument values, pc offsets or goroutine IDs of "created by",
// which differ between otherwise identical panics.
func signature(seed maphash.Seed, stack []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for len(stack) > 0 {
		var line []byte
		if i := bytes.IndexByte(stack, '\n'); i >= 0 {
			line, stack = stack[:i], stack[i+1:]
		} else {
			line, stack = stack, nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("goroutine ")):
			continue // "goroutine 42 [running]:"
		case len(line) > 0 && line[0] == '\t':
			// "\t/path/file.go:123 +0x1d": keep file:line.
			if i := bytes.LastIndex(line, []byte(" +0x")); i >= 0 {
				line = line[:i]
			}
		default:
			// "pkg.fn(0xc000123, {0x1, 0x2})" or "created by pkg.fn in
			// goroutine 7": keep the function name.
			if i := bytes.Index(line, []byte(" in goroutine ")); i >= 0 {
				line = line[:i]
			}
			if i := bytes.LastIndexByte(line, '('); i > 0 && bytes.HasSuffix(line, []byte(")")) {
				line = line[:i]
			}
		}
		_, _ = h.Write(line)
		_ = h.WriteByte('\n')
	}
	return h.Sum64()
}

// appendAttrs appends what the log line of a panic says about its stack:
// the stack itself and its ID on a full line (with stackRepeats when
// identical panics were left out since the last one), or the ID and this
// line's repeat number.
func (s *stackLog) appendAttrs(attrs []slog.Attr, stack []byte) []slog.Attr {
	d := s.decide(stack)
	if d.id == "" {
		return append(attrs, slog.String("stack", string(stack)))
	}
	attrs = append(attrs, slog.String("stackId", d.id))
	if !d.full {
		return append(attrs, slog.Int("stackRepeat", d.repeats))
	}
	if d.repeats > 0 {
		attrs = append(attrs, slog.Int("stackRepeats", d.repeats))
	}
	return append(attrs, slog.String("stack", string(stack)))
}
