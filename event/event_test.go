package event_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/event"
)

func TestHooks(t *testing.T) {
	var got []string
	rec := func(name string) event.Hook {
		return func(_ context.Context, e event.Event) { got = append(got, name+":"+e.Kind.String()) }
	}
	tests := []struct {
		name  string
		hooks []event.Hook
		want  []string
		isNil bool
	}{
		{name: "none", isNil: true},
		{name: "only nils", hooks: []event.Hook{nil, nil}, isNil: true},
		{name: "one", hooks: []event.Hook{nil, rec("a")}, want: []string{"a:error"}},
		{name: "in order", hooks: []event.Hook{rec("a"), nil, rec("b")}, want: []string{"a:error", "b:error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			h := event.Hooks(tt.hooks...)
			if tt.isNil {
				require.Nil(t, h)
			}
			h.Emit(context.Background(), event.Event{Kind: event.KindError}) // a nil Hook is a no-op
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[event.Kind]string{
		event.KindError: "error", event.KindRateLimit: "ratelimit", event.KindKillSwitch: "killswitch",
		event.KindIdempotency: "idempotency", event.KindStore: "store", event.KindRequest: "request", 0: "unknown",
	} {
		assert.Equal(t, want, k.String())
	}
}

func TestEmitDoesNotAllocate(t *testing.T) {
	var n int
	h := event.Hook(func(_ context.Context, e event.Event) { n += e.Status })
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		h.Emit(ctx, event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404, Route: "/v1/x", Method: "GET"})
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 404*101, n)
}

// A Hook that counts errors by code; errkit's OpenTelemetry integration does
// the same with an OTel counter.
func ExampleHook() {
	counts := map[apierror.Code]int{}
	var h event.Hook = func(_ context.Context, e event.Event) {
		if e.Kind == event.KindError {
			counts[e.Code]++
		}
	}
	h.Emit(context.Background(), event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404})
	h.Emit(context.Background(), event.Event{Kind: event.KindRateLimit, Class: "read", Outcome: event.OutcomeAllowed})
	fmt.Println(counts)
	// Output: map[NOT_FOUND:1]
}

func TestStandardMethod(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"},
		{"DELETE", "DELETE"}, {"CONNECT", "CONNECT"}, {"OPTIONS", "OPTIONS"}, {"TRACE", "TRACE"},
		{"get", event.MethodOther}, {"PURGE", event.MethodOther}, {"", event.MethodOther},
		{"GET /x", event.MethodOther}, {"PROPFIND", event.MethodOther},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, event.StandardMethod(tt.in), "%q", tt.in)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = event.StandardMethod("PURGE") }))
}

func TestContextHook(t *testing.T) {
	var got []string
	rec := func(name string) event.Hook {
		return func(_ context.Context, e event.Event) { got = append(got, name+":"+e.Kind.String()) }
	}
	outer := event.NewContext(context.Background(), rec("ctx"))
	tests := []struct {
		name string
		ctx  context.Context
		h    event.Hook
		want []string
	}{
		{name: "no hook anywhere", ctx: context.Background()},
		{name: "config only", ctx: context.Background(), h: rec("cfg"), want: []string{"cfg:killswitch"}},
		{name: "context only", ctx: outer, want: []string{"ctx:killswitch"}},
		{name: "both, config first", ctx: outer, h: rec("cfg"), want: []string{"cfg:killswitch", "ctx:killswitch"}},
		{name: "inner context wins", ctx: event.NewContext(outer, rec("inner")), want: []string{"inner:killswitch"}},
		{name: "nil removes", ctx: event.NewContext(outer, nil), h: rec("cfg"), want: []string{"cfg:killswitch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			event.Fire(tt.ctx, tt.h, event.Event{Kind: event.KindKillSwitch})
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Nil(t, event.FromContext(context.Background()))
	require.NotNil(t, event.FromContext(outer))
}

// A wrapping handler that reports every errkit event of every request to
// one Hook, whatever the parts' own Config.
func ExampleNewContext() {
	var errorsSeen int
	hook := event.Hook(func(_ context.Context, e event.Event) {
		if e.Kind == event.KindError {
			errorsSeen++
		}
	})
	ctx := event.NewContext(context.Background(), hook) // in a handler: r.WithContext(...)
	event.Fire(ctx, nil, event.Event{Kind: event.KindError, Code: apierror.CodeNotFound, Status: 404})
	fmt.Println(errorsSeen)
	// Output: 1
}
