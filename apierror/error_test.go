package apierror_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

func TestWithMessageReturnsACopy(t *testing.T) {
	orig := apierror.NotFound()
	changed := orig.WithMessage("Project prj_1 does not exist.")

	assert.NotSame(t, orig, changed)
	assert.Equal(t, "The resource does not exist.", orig.Message(), "the original is untouched")
	assert.Equal(t, "Project prj_1 does not exist.", changed.Message())
	assert.Equal(t, apierror.CodeNotFound, changed.Code())
	assert.Equal(t, 404, changed.Status())

	// A fresh constructor call is unaffected: no shared value was mutated.
	assert.Equal(t, "The resource does not exist.", apierror.NotFound().Message())
	spec, ok := apierror.Lookup(apierror.CodeNotFound)
	require.True(t, ok)
	assert.Equal(t, "The resource does not exist.", spec.Message)

	assert.Equal(t, "The resource does not exist.", orig.WithMessage("").Message(), "an empty message keeps the current one")

	// Details and cause survive a message change.
	rl := apierror.RateLimited(time.Second).WithCause(io.EOF).WithMessage("slow down")
	assert.Equal(t,
		`{"error":{"code":"RATE_LIMITED","message":"slow down","requestId":"r","details":{"retryAfterMs":1000}}}`,
		string(rl.Render("r")))
	assert.ErrorIs(t, rl, io.EOF)
}

func TestInternalMessageIsFixed(t *testing.T) {
	e := apierror.Internal(errors.New("boom")).WithMessage("pq: relation users does not exist")
	assert.Equal(t, apierror.InternalMessage, e.Message())
	assert.Equal(t, "An unexpected error occurred. Please contact support with the requestId.", apierror.InternalMessage)
	assert.Equal(t, apierror.InternalMessage, apierror.New(apierror.CodeInternal).WithMessage("x").Message())
	assert.Equal(t, apierror.InternalMessage, apierror.From(errors.New("secret")).Message())
	assert.NotContains(t, string(e.Render("r")), "boom")
	assert.NotContains(t, string(e.Render("r")), "pq:")
}

func TestWithCauseReturnsACopy(t *testing.T) {
	orig := apierror.Conflict("already_approved")
	cause := errors.New("row version 7 != 8")
	withCause := orig.WithCause(cause)

	assert.NoError(t, orig.Unwrap(), "the original has no cause")
	assert.Same(t, cause, withCause.Unwrap())
	assert.Equal(t, string(orig.Render("r")), string(withCause.Render("r")), "the cause is never rendered")
}

// TestConcurrentUseOfSharedValues: a package-level error shared by many
// goroutines can be rendered and refined concurrently (go test -race).
func TestConcurrentUseOfSharedValues(t *testing.T) {
	shared := apierror.Validation(apierror.Issue{Path: "a", Message: "b"})
	want := string(shared.Render("r"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				_ = shared.WithMessage(fmt.Sprint(i, j)).WithCause(io.EOF).Render("x")
				_, _ = shared.Details()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, want, string(shared.Render("r")))
}

func TestErrorsIs(t *testing.T) {
	base := apierror.NotFound().WithCause(io.ErrUnexpectedEOF)
	wrapped := fmt.Errorf("loading project: %w", fmt.Errorf("repo: %w", base))
	joined := errors.Join(errors.New("other"), wrapped)

	for name, err := range map[string]error{"direct": base, "wrapped twice": wrapped, "joined": joined} {
		t.Run(name, func(t *testing.T) {
			assert.True(t, apierror.HasCode(err, apierror.CodeNotFound), "by Code")
			assert.ErrorIs(t, err, apierror.NotFound(), "by *Error of the same code")
			assert.ErrorIs(t, err, apierror.NotFound().WithMessage("other message"), "the message does not matter")
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the cause is reachable")
			assert.False(t, apierror.HasCode(err, apierror.CodeConflict))
			assert.NotErrorIs(t, err, apierror.Conflict("x"))
			assert.NotErrorIs(t, err, (*apierror.Error)(nil))
		})
	}
	assert.False(t, apierror.HasCode(errors.New("not found"), apierror.CodeNotFound))
	assert.False(t, apierror.HasCode(nil, apierror.CodeNotFound))
	var code any = apierror.CodeNotFound
	_, isError := code.(error)
	assert.False(t, isError, "a bare Code is not an error, so `return apierror.CodeNotFound` does not compile")
}

func TestAsFromCodeOfStatusOf(t *testing.T) {
	rl := apierror.RateLimited(time.Second)
	plain := errors.New("dial tcp: refused")
	tests := []struct {
		name       string
		err        error
		wantAs     bool
		wantCode   apierror.Code
		wantStatus int
	}{
		{"nil", nil, false, "", 200},
		{"*Error", rl, true, apierror.CodeRateLimited, 429},
		{"wrapped *Error", fmt.Errorf("ctx: %w", rl), true, apierror.CodeRateLimited, 429},
		{"plain error", plain, false, apierror.CodeInternal, 500},
		{"context.Canceled", context.Canceled, false, apierror.CodeInternal, 500},
		{"typed nil *Error", (*apierror.Error)(nil), false, apierror.CodeInternal, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := apierror.As(tc.err)
			assert.Equal(t, tc.wantAs, ok)
			if tc.wantAs {
				assert.Same(t, rl, e)
			} else {
				assert.Nil(t, e)
			}
			assert.Equal(t, tc.wantCode, apierror.CodeOf(tc.err))
			assert.Equal(t, tc.wantStatus, apierror.StatusOf(tc.err))

			f := apierror.From(tc.err)
			switch {
			case tc.err == nil:
				assert.Nil(t, f)
			case tc.wantAs:
				assert.Same(t, rl, f)
			default:
				require.NotNil(t, f)
				assert.Equal(t, apierror.CodeInternal, f.Code())
				assert.Equal(t, apierror.InternalMessage, f.Message())
				assert.Equal(t, tc.err, f.Unwrap(), "the original error is kept as the cause")
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, "NOT_FOUND: The resource does not exist.", apierror.NotFound().Error())
	assert.Equal(t,
		"INTERNAL: An unexpected error occurred. Please contact support with the requestId.: pq: timeout",
		apierror.Internal(errors.New("pq: timeout")).Error())
	assert.Equal(t, "CONFLICT: Already there.: v7", apierror.Conflict("r").WithMessage("Already there.").WithCause(errors.New("v7")).Error())
}

func TestUnwrap(t *testing.T) {
	cause := errors.New("temporal: unavailable")
	assert.Same(t, cause, apierror.WorkflowStartFailed(cause).Unwrap())
	assert.Same(t, cause, apierror.Internal(cause).Unwrap())
	assert.NoError(t, apierror.NotFound().Unwrap())
	assert.NoError(t, apierror.Internal(nil).Unwrap())
	assert.Same(t, cause, errors.Unwrap(apierror.Internal(cause)))
}

func TestDetailsAs(t *testing.T) {
	constructed := apierror.RateLimited(250 * time.Millisecond)
	decoded := apierror.Decode(429, constructed.Render("req_1"))
	require.IsType(t, &apierror.Error{}, decoded)

	for name, err := range map[string]error{
		"constructed":         constructed,
		"decoded":             decoded,
		"wrapped constructed": fmt.Errorf("x: %w", constructed),
		"wrapped decoded":     fmt.Errorf("x: %w", decoded),
	} {
		t.Run(name, func(t *testing.T) {
			d, ok := apierror.DetailsAs[apierror.RateLimitedDetails](err)
			require.True(t, ok)
			assert.Equal(t, apierror.RateLimitedDetails{RetryAfterMs: 250}, d)

			p, ok := apierror.DetailsAs[*apierror.RateLimitedDetails](err)
			require.True(t, ok)
			assert.Equal(t, int64(250), p.RetryAfterMs)

			m, ok := apierror.DetailsAs[map[string]any](err)
			require.True(t, ok)
			assert.Equal(t, map[string]any{"retryAfterMs": float64(250)}, m)

			_, ok = apierror.DetailsAs[[]int](err)
			assert.False(t, ok, "details that do not decode into T")
		})
	}

	_, ok := apierror.DetailsAs[apierror.RateLimitedDetails](apierror.NotFound())
	assert.False(t, ok, "no details")
	_, ok = apierror.DetailsAs[apierror.RateLimitedDetails](errors.New("plain"))
	assert.False(t, ok, "not an *Error")
	_, ok = apierror.DetailsAs[apierror.RateLimitedDetails](nil)
	assert.False(t, ok, "nil")
}

func TestDetailsMethod(t *testing.T) {
	v, err := apierror.NotFound().Details()
	require.NoError(t, err)
	assert.Nil(t, v)

	v, err = apierror.KillSwitch(apierror.ScopeGlobal).Details()
	require.NoError(t, err)
	assert.Equal(t, apierror.KillSwitchDetails{Scope: apierror.ScopeGlobal}, v)

	dec, ok := apierror.Decode(503, apierror.KillSwitch(apierror.ScopeGlobal).Render("r")).(*apierror.Error)
	require.True(t, ok)
	v, err = dec.Details()
	require.NoError(t, err)
	assert.Equal(t, apierror.KillSwitchDetails{Scope: apierror.ScopeGlobal}, v, "decoded into the code's type")

	unknown, ok := apierror.Decode(418, []byte(`{"error":{"code":"TEAPOT","message":"m","details":{"spout":true,"n":1}}}`)).(*apierror.Error)
	require.True(t, ok)
	v, err = unknown.Details()
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"spout": true, "n": float64(1)}, v, "unknown code: a map")

	bad, ok := apierror.Decode(429, []byte(`{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":"soon"}}}`)).(*apierror.Error)
	require.True(t, ok)
	_, err = bad.Details()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RATE_LIMITED details")
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		err    *apierror.Error
		want   time.Duration
		wantOK bool
	}{
		{"RateLimited", apierror.RateLimited(1500 * time.Millisecond), 1500 * time.Millisecond, true},
		{"RateLimited rounds up", apierror.RateLimited(1500*time.Millisecond + 1), 1501 * time.Millisecond, true},
		{"CircuitOpen", apierror.CircuitOpen("r", 2500*time.Millisecond), 3 * time.Second, true},
		{"PlatformError with window", apierror.PlatformError(apierror.PlatformMeta, "c", "m", time.Second), time.Second, true},
		{"PlatformError null", apierror.PlatformError(apierror.PlatformMeta, "c", "m", 0), 0, false},
		{"NotFound", apierror.NotFound(), 0, false},
		{"Internal", apierror.Internal(nil), 0, false},
		{"decoded negative", decodeErr(t, 429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":-5}}}`), 0, false},
		{"decoded huge saturates", decodeErr(t, 429, `{"error":{"code":"RATE_LIMITED","message":"m","details":{"retryAfterMs":9223372036854775807}}}`), math.MaxInt64, true},
		{"decoded huge seconds", decodeErr(t, 503, `{"error":{"code":"CIRCUIT_OPEN","message":"m","details":{"resource":"r","retryAfterSeconds":9223372036854775807}}}`), math.MaxInt64, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := tc.err.RetryAfter()
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, d)
		})
	}
}

func decodeErr(t *testing.T, status int, body string) *apierror.Error {
	t.Helper()
	e, ok := apierror.Decode(status, []byte(body)).(*apierror.Error)
	require.True(t, ok, "decode %s", body)
	return e
}

func TestCatalogueAndLookupReturnCopies(t *testing.T) {
	c := apierror.Catalogue()
	require.Len(t, c, 23)
	c[0].Message = "mutated"
	c[1].Details[0] = "mutated"
	fresh := apierror.Catalogue()
	assert.NotEqual(t, "mutated", fresh[0].Message)
	assert.Equal(t, "requiredScope", fresh[1].Details[0])

	s, ok := apierror.Lookup(apierror.CodeForbiddenScope)
	require.True(t, ok)
	s.Details[0] = "mutated"
	assert.Equal(t, `{"requiredScope":"x"}`, string(apierror.ForbiddenScope("x").RawDetails()))
	s2, _ := apierror.Lookup(apierror.CodeForbiddenScope)
	assert.Equal(t, []string{"requiredScope"}, s2.Details)

	_, ok = apierror.Lookup("NOPE")
	assert.False(t, ok)
	assert.False(t, apierror.Code("NOPE").Known())
	assert.Equal(t, http.StatusInternalServerError, apierror.Code("NOPE").Status())
	for _, s := range c {
		assert.True(t, s.Code.Known())
		assert.Equal(t, s.Status, s.Code.Status())
	}
}

func TestRetryAdviceRetryable(t *testing.T) {
	want := map[apierror.Code]bool{
		apierror.CodeRateLimited:   true,
		apierror.CodeInternal:      true,
		apierror.CodePlatformError: true,
		apierror.CodeCircuitOpen:   true,
		// The job path: retry with the same Idempotency-Key.
		apierror.CodeWorkflowStartFailed: true,
	}
	for _, s := range apierror.Catalogue() {
		assert.Equal(t, want[s.Code], s.Retry.Retryable(), "%s (%s)", s.Code, s.Retry.Kind)
	}
}

func TestEnumParsers(t *testing.T) {
	for _, s := range []string{"key", "organization", "global"} {
		v, err := apierror.ParseKillSwitchScope(s)
		require.NoError(t, err)
		assert.Equal(t, apierror.KillSwitchScope(s), v)
	}
	_, err := apierror.ParseKillSwitchScope("Global")
	assert.ErrorContains(t, err, "key, organization or global")

	for _, s := range []string{"tiktok", "meta", "apple", "instagram", "appstore"} {
		v, err := apierror.ParsePlatform(s)
		require.NoError(t, err)
		assert.Equal(t, apierror.Platform(s), v)
	}
	_, err = apierror.ParsePlatform("facebook")
	assert.ErrorContains(t, err, "tiktok, meta, apple, instagram or appstore")
}

func TestExampleForEveryCode(t *testing.T) {
	for _, spec := range apierror.Catalogue() {
		e, ok := apierror.Example(spec.Code)
		require.True(t, ok, spec.Code)
		assert.Equal(t, spec.Code, e.Code())
		assert.Equal(t, spec.Status, e.Status())
		if len(spec.Details) > 0 {
			assert.True(t, e.HasDetails(), "%s guarantees details", spec.Code)
		}
	}
	_, ok := apierror.Example("NOPE")
	assert.False(t, ok)
}

func TestStatusCode(t *testing.T) {
	assert.Equal(t, 429, apierror.RateLimited(time.Second).StatusCode())
	assert.Equal(t, 500, (*apierror.Error)(nil).StatusCode(), "a nil *Error answers INTERNAL's status, without panicking")
}
