package killswitch

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newMemory returns a MemoryStore for cfg.
func newMemory(t testing.TB, cfg MemoryConfig) *MemoryStore {
	t.Helper()
	m, err := NewMemoryStore(cfg)
	require.NoError(t, err)
	return m
}

func TestSwitchValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Switch
		ok   bool
	}{
		{"global", Switch{Scope: ScopeGlobal}, true},
		{"global with duration", Switch{Scope: ScopeGlobal, ExpectedDuration: time.Minute}, true},
		{"global with id", Switch{Scope: ScopeGlobal, ID: "x"}, false},
		{"key", Switch{Scope: ScopeKey, ID: "key_1"}, true},
		{"organization", Switch{Scope: ScopeOrganization, ID: "org_1"}, true},
		{"key without id", Switch{Scope: ScopeKey}, false},
		{"org without id", Switch{Scope: ScopeOrganization}, false},
		{"unknown scope", Switch{Scope: "project", ID: "p"}, false},
		{"empty scope", Switch{}, false},
		{"id with space", Switch{Scope: ScopeKey, ID: "a b"}, false},
		{"id with control", Switch{Scope: ScopeKey, ID: "a\x00"}, false},
		{"id invalid utf8", Switch{Scope: ScopeKey, ID: "a\xff"}, false},
		{"id max length", Switch{Scope: ScopeKey, ID: strings.Repeat("k", MaxIDLength)}, true},
		{"id too long", Switch{Scope: ScopeKey, ID: strings.Repeat("k", MaxIDLength+1)}, false},
		{"reason too long", Switch{Scope: ScopeGlobal, Reason: strings.Repeat("r", MaxReasonLength+1)}, false},
		{"by too long", Switch{Scope: ScopeGlobal, By: strings.Repeat("r", MaxReasonLength+1)}, false},
		{"negative duration", Switch{Scope: ScopeGlobal, ExpectedDuration: -time.Second}, false},
		{"duration on key", Switch{Scope: ScopeKey, ID: "k", ExpectedDuration: time.Second}, false},
		{"duration on org", Switch{Scope: ScopeOrganization, ID: "o", ExpectedDuration: time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalidSwitch), "%v does not wrap ErrInvalidSwitch", err)
		})
	}
}

func TestSwitchRetryAfter(t *testing.T) {
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    Switch
		now  time.Time
		want time.Duration
		ok   bool
	}{
		{"global, time left", Switch{Scope: ScopeGlobal, At: at, ExpectedDuration: 10 * time.Minute}, at.Add(4 * time.Minute), 6 * time.Minute, true},
		{"global, just flipped", Switch{Scope: ScopeGlobal, At: at, ExpectedDuration: 90 * time.Second}, at, 90 * time.Second, true},
		{"global, overdue floors to 1s", Switch{Scope: ScopeGlobal, At: at, ExpectedDuration: time.Minute}, at.Add(time.Hour), time.Second, true},
		{"global, no estimate", Switch{Scope: ScopeGlobal, At: at}, at, 0, false},
		{"key never", Switch{Scope: ScopeKey, ID: "k", At: at, ExpectedDuration: time.Minute}, at, 0, false},
		{"organization never", Switch{Scope: ScopeOrganization, ID: "o", At: at, ExpectedDuration: time.Minute}, at, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := tt.s.RetryAfter(tt.now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

// TestCheckPrecedence covers every combination of the three switches and
// the (key, org) a request carries.
func TestCheckPrecedence(t *testing.T) {
	type state struct{ global, org, key bool }
	tests := []struct {
		name     string
		st       state
		key, org string
		want     Scope // "" = not refused
	}{
		{"nothing on", state{}, "k1", "o1", ""},
		{"key on", state{key: true}, "k1", "o1", ScopeKey},
		{"key on, other key", state{key: true}, "k2", "o1", ""},
		{"org on", state{org: true}, "k1", "o1", ScopeOrganization},
		{"org on, other org", state{org: true}, "k1", "o2", ""},
		{"key and org on: org wins", state{org: true, key: true}, "k1", "o1", ScopeOrganization},
		{"key and org on, other org: key", state{org: true, key: true}, "k1", "o2", ScopeKey},
		{"global on", state{global: true}, "k9", "o9", ScopeGlobal},
		{"all on: global wins", state{global: true, org: true, key: true}, "k1", "o1", ScopeGlobal},
		{"global on, unauthenticated", state{global: true}, "", "", ScopeGlobal},
		{"key on, unauthenticated", state{key: true, org: true}, "", "", ""},
		{"key id looked up as org id does not match", state{key: true}, "x", "k1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := newMemory(t, MemoryConfig{})
			if tt.st.global {
				require.NoError(t, m.On(ctx, Switch{Scope: ScopeGlobal}))
			}
			if tt.st.org {
				require.NoError(t, m.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1"}))
			}
			if tt.st.key {
				require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "k1"}))
			}
			sw, on := m.Check(tt.key, tt.org)
			assert.Equal(t, tt.want != "", on)
			assert.Equal(t, tt.want, sw.Scope)
		})
	}
}

func TestMemoryOnOffList(t *testing.T) {
	ctx := context.Background()
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := newMemory(t, MemoryConfig{Now: func() time.Time { return fixed }})

	require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "k2", Reason: "abuse", By: "ops"}))
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "k1"}))
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeOrganization, ID: "o1", At: fixed.Add(-time.Hour)}))
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeGlobal, ExpectedDuration: time.Minute}))
	// Replacing keeps one switch per (scope, id).
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "k2", Reason: "fraud", By: "ops2"}))

	got, err := m.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Switch{
		{Scope: ScopeGlobal, At: fixed, ExpectedDuration: time.Minute},
		{Scope: ScopeOrganization, ID: "o1", At: fixed.Add(-time.Hour)},
		{Scope: ScopeKey, ID: "k1", At: fixed},
		{Scope: ScopeKey, ID: "k2", Reason: "fraud", By: "ops2", At: fixed},
	}, got)

	sw, on := m.Check("k2", "")
	require.True(t, on) // global
	assert.Equal(t, ScopeGlobal, sw.Scope)

	require.NoError(t, m.Off(ctx, ScopeGlobal, ""))
	require.NoError(t, m.Off(ctx, ScopeGlobal, ""), "turning off what is off is not an error")
	sw, on = m.Check("k2", "")
	require.True(t, on)
	assert.Equal(t, Switch{Scope: ScopeKey, ID: "k2", Reason: "fraud", By: "ops2", At: fixed}, sw)

	require.NoError(t, m.Off(ctx, ScopeKey, "k2"))
	require.NoError(t, m.Off(ctx, ScopeOrganization, "o1"))
	require.NoError(t, m.Off(ctx, ScopeOrganization, "never-on"))
	_, on = m.Check("k2", "o1")
	assert.False(t, on)
	got, err = m.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []Switch{{Scope: ScopeKey, ID: "k1", At: fixed}}, got)

	assert.ErrorIs(t, m.On(ctx, Switch{Scope: ScopeKey}), ErrInvalidSwitch)
	assert.ErrorIs(t, m.Off(ctx, ScopeGlobal, "x"), ErrInvalidSwitch)
	assert.ErrorIs(t, m.Replace(ctx, []Switch{{Scope: ScopeGlobal}, {Scope: "bad"}}), ErrInvalidSwitch)
	got, err = m.List(ctx)
	require.NoError(t, err)
	assert.Len(t, got, 1, "a failed Replace changes nothing")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, m.On(cancelled, Switch{Scope: ScopeGlobal}), context.Canceled)
	assert.ErrorIs(t, m.Off(cancelled, ScopeGlobal, ""), context.Canceled)
	_, err = m.List(cancelled)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestTableAgreesWithMap checks the open-addressing table against a map for
// many IDs, hits and misses, including IDs of every length around the
// 8-byte word boundary.
func TestTableAgreesWithMap(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 100, 5000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			m := make(map[string]*Switch, n)
			for i := 0; i < n; i++ {
				id := strings.Repeat("x", i%20) + strconv.Itoa(i)
				m[id] = &Switch{Scope: ScopeKey, ID: id}
			}
			tb := newTable(m)
			require.Len(t, tb.slots, int(tb.mask)+1)
			require.GreaterOrEqual(t, len(tb.slots), 2*n)
			for id, sw := range m {
				require.Same(t, sw, tb.get(id), id)
			}
			for i := 0; i < 2*n; i++ {
				id := "miss" + strings.Repeat("y", i%17) + strconv.Itoa(i)
				require.Nil(t, tb.get(id), id)
			}
			require.Nil(t, tb.get(""))
		})
	}
	empty := newTable(nil)
	require.Nil(t, empty.get("x"))
}

func TestCheckDoesNotAllocate(t *testing.T) {
	m := newMemory(t, MemoryConfig{})
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		require.NoError(t, m.On(ctx, Switch{Scope: ScopeKey, ID: "key_" + strconv.Itoa(i)}))
	}
	require.NoError(t, m.On(ctx, Switch{Scope: ScopeOrganization, ID: "org_1"}))
	allocs := testing.AllocsPerRun(1000, func() {
		m.Check("key_500", "org_2")
		m.Check("key_x", "org_1")
		m.Check("key_x", "org_x")
	})
	assert.Zero(t, allocs)
}

// TestTableProbeLength guards the hash quality: with 10k sequential IDs
// (the benchmark's worst realistic case) misses must end after a couple of
// probes on average, as linear probing at <= 50% load promises for a
// well-spread hash. A poor hash clusters and fails this.
func TestTableProbeLength(t *testing.T) {
	m := make(map[string]*Switch, 10000)
	for i := 0; i < 10000; i++ {
		m["org_"+strconv.Itoa(i)] = &Switch{}
	}
	tb := newTable(m)
	total := 0
	for i := 0; i < 10000; i++ {
		id := "org_live_" + strconv.Itoa(i)
		h := hashID(tb.seed, id)
		n := 1
		for j := h & tb.mask; tb.slots[j].h != 0; j = (j + 1) & tb.mask {
			n++
		}
		total += n
	}
	avg := float64(total) / 10000
	t.Logf("average miss probe length %.2f", avg)
	assert.Less(t, avg, 2.5)
}

func TestNewMemoryStoreDefaults(t *testing.T) {
	m, err := NewMemoryStore(MemoryConfig{})
	require.NoError(t, err)
	require.NotNil(t, m)
	before := time.Now()
	require.NoError(t, m.On(context.Background(), Switch{Scope: ScopeGlobal}))
	sw, on := m.Check("", "")
	require.True(t, on)
	assert.False(t, sw.At.Before(before), "a zero At is stamped with time.Now by default")
}

func TestNewSnapshot(t *testing.T) {
	at := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		switches []Switch
		want     []Switch // nil: NewSnapshot fails
	}{
		{"empty", nil, []Switch{}},
		{"zero At is kept", []Switch{{Scope: ScopeKey, ID: "k1"}}, []Switch{{Scope: ScopeKey, ID: "k1"}}},
		{"sorted, broadest first", []Switch{
			{Scope: ScopeKey, ID: "k2", At: at},
			{Scope: ScopeOrganization, ID: "o1"},
			{Scope: ScopeKey, ID: "k1", Reason: "r"},
			{Scope: ScopeGlobal, ExpectedDuration: time.Minute},
		}, []Switch{
			{Scope: ScopeGlobal, ExpectedDuration: time.Minute},
			{Scope: ScopeOrganization, ID: "o1"},
			{Scope: ScopeKey, ID: "k1", Reason: "r"},
			{Scope: ScopeKey, ID: "k2", At: at},
		}},
		{"last of a (scope, id) wins", []Switch{
			{Scope: ScopeKey, ID: "k1", Reason: "first"},
			{Scope: ScopeKey, ID: "k1", Reason: "second"},
		}, []Switch{{Scope: ScopeKey, ID: "k1", Reason: "second"}}},
		{"invalid", []Switch{{Scope: ScopeKey, ID: "k1"}, {Scope: ScopeKey}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSnapshot(tt.switches)
			if tt.want == nil {
				assert.ErrorIs(t, err, ErrInvalidSwitch)
				assert.Nil(t, s)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, s.List())
			// Without a global switch every switch answers its own check.
			if _, global := s.Check("", ""); global {
				return
			}
			for _, w := range tt.want {
				key, org := w.ID, ""
				if w.Scope == ScopeOrganization {
					key, org = "", w.ID
				}
				got, on := s.Check(key, org)
				require.True(t, on, w.ID)
				assert.Equal(t, w, got)
			}
		})
	}
}

func TestSnapshotZeroAndNil(t *testing.T) {
	var zero Snapshot
	var nilSnap *Snapshot
	for name, s := range map[string]*Snapshot{"zero": &zero, "nil": nilSnap} {
		_, on := s.Check("k1", "o1")
		assert.False(t, on, name)
		assert.Equal(t, []Switch{}, s.List(), name)
	}
	var _ Checker = nilSnap
}
