package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/bearer"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/principal"
)

// request returns a request carrying each of values as one Authorization
// header line.
func request(values ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/projects", nil)
	for _, v := range values {
		r.Header.Add("Authorization", v)
	}
	return r
}

func TestToken(t *testing.T) {
	const (
		missing    = "The Authorization header is missing."
		malformed  = "The Authorization header must be \"Bearer <API key>\"."
		duplicated = "Send exactly one Authorization header with one credential."
	)
	tests := []struct {
		name    string
		headers []string
		token   string // when accepted
		cause   error  // when refused
		message string
	}{
		{name: "plain", headers: []string{"Bearer sk_live_abc123"}, token: "sk_live_abc123"},
		{name: "scheme case-insensitive", headers: []string{"bEaReR abc"}, token: "abc"},
		{name: "every b64token character", headers: []string{"Bearer aZ09-._~+/=="}, token: "aZ09-._~+/=="},
		{name: "several spaces (1*SP)", headers: []string{"Bearer   abc"}, token: "abc"},
		{name: "padding only", headers: []string{"Bearer =="}, cause: bearer.ErrMalformed, message: malformed},

		{name: "no header", cause: bearer.ErrMissing, message: missing},
		{name: "empty header", headers: []string{""}, cause: bearer.ErrMissing, message: missing},

		{name: "basic scheme", headers: []string{"Basic dXNlcjpwYXNz"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "scheme only", headers: []string{"Bearer"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "scheme and space", headers: []string{"Bearer "}, cause: bearer.ErrMalformed, message: malformed},
		{name: "token without scheme", headers: []string{"sk_live_abc123"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "scheme glued to token", headers: []string{"Bearersk_live"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "tab separator", headers: []string{"Bearer\tabc"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "leading space", headers: []string{" Bearer abc"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "extra field", headers: []string{"Bearer abc def"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "trailing space", headers: []string{"Bearer abc "}, cause: bearer.ErrMalformed, message: malformed},
		{name: "padding in the middle", headers: []string{"Bearer ab=c"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "quote", headers: []string{`Bearer "abc"`}, cause: bearer.ErrMalformed, message: malformed},
		{name: "auth-param form", headers: []string{"Bearer token=abc"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "non-ASCII", headers: []string{"Bearer abcé"}, cause: bearer.ErrMalformed, message: malformed},
		{name: "control character", headers: []string{"Bearer abc\x00"}, cause: bearer.ErrMalformed, message: malformed},

		{name: "two headers", headers: []string{"Bearer abc", "Bearer def"}, cause: bearer.ErrDuplicated, message: duplicated},
		{name: "two equal headers", headers: []string{"Bearer abc", "Bearer abc"}, cause: bearer.ErrDuplicated, message: duplicated},
		{name: "empty second header", headers: []string{"Bearer abc", ""}, cause: bearer.ErrDuplicated, message: duplicated},
		{name: "comma-joined", headers: []string{"Bearer abc, Bearer def"}, cause: bearer.ErrDuplicated, message: duplicated},
		{name: "comma-joined, other scheme", headers: []string{"Basic dXNlcg==, Bearer abc"}, cause: bearer.ErrDuplicated, message: duplicated},
		{name: "trailing comma", headers: []string{"Bearer abc,"}, cause: bearer.ErrDuplicated, message: duplicated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := bearer.Token(request(tt.headers...))
			if tt.cause == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.token, token)
				return
			}
			require.Error(t, err)
			assert.Empty(t, token)
			assert.ErrorIs(t, err, tt.cause)
			assert.True(t, apierror.HasCode(err, apierror.CodeUnauthenticated))
			e, ok := apierror.As(err)
			require.True(t, ok)
			assert.Equal(t, http.StatusUnauthorized, e.Status())
			assert.Equal(t, tt.message, e.Message())
			assert.False(t, e.HasDetails(), "UNAUTHENTICATED has no details")
		})
	}
}

// TestRefusalNeverEchoesToken renders each refusal through the error writer
// and checks that neither the body, the headers nor the log line holds the
// token that was sent.
func TestRefusalNeverEchoesToken(t *testing.T) {
	const secret = "sk_live_SECRET0123456789"
	for _, headers := range [][]string{
		{"Basic " + secret},
		{"Bearer " + secret + " extra"},
		{"Bearer " + secret, "Bearer " + secret},
		{"Bearer " + secret + ", Bearer other"},
		{"Bearer " + secret + "\x7f"},
	} {
		var logs strings.Builder
		w, err := httperror.New(httperror.Config{Logger: newLogger(&logs)})
		require.NoError(t, err)
		r := request(headers...)
		_, err = bearer.Token(r)
		require.Error(t, err)

		rec := httptest.NewRecorder()
		w.Write(rec, r, err)
		assert.Equal(t, http.StatusUnauthorized, rec.Code)
		assert.NotContains(t, rec.Body.String(), secret)
		for name, vs := range rec.Header() {
			for _, v := range vs {
				assert.NotContains(t, v, secret, name)
			}
		}
		assert.NotEmpty(t, logs.String(), "the refusal is logged")
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestParse(t *testing.T) {
	token, err := bearer.Parse("Bearer abc")
	require.NoError(t, err)
	assert.Equal(t, "abc", token)
	_, err = bearer.Parse("Bearer a, Bearer b")
	assert.ErrorIs(t, err, bearer.ErrDuplicated)
	_, err = bearer.Parse("")
	assert.ErrorIs(t, err, bearer.ErrMissing)
}

func TestAuthenticate(t *testing.T) {
	known := principal.Principal{KeyID: "key_1", OrganizationID: "org_1", Scopes: []string{"content:read"}}
	errStore := errors.New("keys store: connection refused")
	var calls []string
	lookup := func(ctx context.Context, token string) (principal.Principal, bool, error) {
		calls = append(calls, token)
		switch token {
		case "good":
			return known, true, nil
		case "broken":
			return principal.Principal{}, false, errStore
		case "switched-off":
			return principal.Principal{}, false, apierror.KillSwitch(apierror.ScopeKey)
		}
		return principal.Principal{}, false, nil
	}

	t.Run("known token records the caller", func(t *testing.T) {
		calls = nil
		r := request("Bearer good")
		got, err := bearer.Authenticate(r, lookup)
		require.NoError(t, err)
		p, ok := principal.From(got)
		require.True(t, ok)
		assert.Equal(t, known, p)
		_, ok = principal.From(r)
		assert.False(t, ok, "the original request is unchanged")
		assert.Equal(t, []string{"good"}, calls)
	})
	t.Run("unknown token", func(t *testing.T) {
		r := request("Bearer nope")
		got, err := bearer.Authenticate(r, lookup)
		assert.Same(t, r, got, "the request itself, to render the error against")
		assert.ErrorIs(t, err, bearer.ErrUnknown)
		e, ok := apierror.As(err)
		require.True(t, ok)
		assert.Equal(t, apierror.CodeUnauthenticated, e.Code())
		assert.Equal(t, "The API key is not valid.", e.Message())
	})
	t.Run("store failure stays a server-side cause", func(t *testing.T) {
		r := request("Bearer broken")
		got, err := bearer.Authenticate(r, lookup)
		assert.Same(t, r, got)
		assert.Same(t, errStore, err, "returned as it is, unwrapped")
		assert.Equal(t, apierror.CodeInternal, httperror.Default().Map(err, http.Header{}).Code())
	})
	t.Run("lookup's own contract error passes", func(t *testing.T) {
		_, err := bearer.Authenticate(request("Bearer switched-off"), lookup)
		assert.True(t, apierror.HasCode(err, apierror.CodeKillSwitch))
		var e *apierror.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, apierror.CodeKillSwitch, e.Code())
	})
	t.Run("a wrapped typed error stays reachable with errors.As", func(t *testing.T) {
		storeErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
		wrapping := func(context.Context, string) (principal.Principal, bool, error) {
			return principal.Principal{}, false, fmt.Errorf("keys store: %w", storeErr)
		}
		_, err := bearer.Authenticate(request("Bearer good"), wrapping)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		assert.Same(t, storeErr, op)
		assert.Equal(t, "keys store: dial tcp: connection refused", err.Error(), "no prefix added")
	})
	t.Run("refused credentials never reach lookup", func(t *testing.T) {
		calls = nil
		for _, h := range [][]string{nil, {"Basic good"}, {"Bearer good", "Bearer good"}, {"Bearer good,good"}} {
			_, err := bearer.Authenticate(request(h...), lookup)
			assert.True(t, apierror.HasCode(err, apierror.CodeUnauthenticated), "%q", h)
		}
		assert.Empty(t, calls)
	})
}

// TestAuthenticateNilLookup: a nil Lookup is the service's mistake, not the
// client's: INTERNAL for every request, even one without a credential, and
// never a panic.
func TestAuthenticateNilLookup(t *testing.T) {
	for _, h := range [][]string{{"Bearer good"}, nil, {"Basic x"}} {
		r := request(h...)
		var got *http.Request
		var err error
		require.NotPanics(t, func() { got, err = bearer.Authenticate(r, nil) }, "%q", h)
		assert.Same(t, r, got)
		e, ok := apierror.As(err)
		require.True(t, ok, "%q: %v", h, err)
		assert.Equal(t, apierror.CodeInternal, e.Code())
		assert.EqualError(t, errors.Unwrap(e), "bearer: Authenticate: nil Lookup")
		_, ok = principal.From(got)
		assert.False(t, ok)
	}
}

func TestMatch(t *testing.T) {
	const want = "op_token_123"
	tests := []struct {
		name    string
		headers []string
		want    string
		cause   error
	}{
		{name: "equal", headers: []string{"Bearer " + want}, want: want},
		{name: "different", headers: []string{"Bearer op_token_124"}, want: want, cause: bearer.ErrUnknown},
		{name: "prefix", headers: []string{"Bearer op_token"}, want: want, cause: bearer.ErrUnknown},
		{name: "missing", want: want, cause: bearer.ErrMissing},
		{name: "duplicated", headers: []string{"Bearer " + want, "Bearer " + want}, want: want, cause: bearer.ErrDuplicated},
		{name: "empty secret matches nothing", headers: []string{"Bearer x"}, want: "", cause: bearer.ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bearer.Match(request(tt.headers...), tt.want)
			if tt.cause == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.cause)
			assert.True(t, apierror.HasCode(err, apierror.CodeUnauthenticated))
		})
	}
}
