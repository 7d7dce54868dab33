package bearer_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/bearer"
)

// FuzzToken feeds Authorization header values to Token (as one header, and
// as the second of two). Properties: it never panics; a refusal is
// UNAUTHENTICATED with one of the fixed messages, so nothing of the value is
// echoed; an accepted token is a b64token that, after "Bearer" and spaces,
// is exactly the rest of the value; two headers are always refused.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b-c_d~e+f/g==", "Bearer", "Bearer ", "Basic dXNlcg==",
		"Bearer a b", "Bearer a, Bearer b", "Bearer \x00", "Bearer =", "Bearer a=b", "Bearer\ta"} {
		f.Add(s)
	}
	messages := map[string]bool{
		"The Authorization header is missing.":                       true,
		"The Authorization header must be \"Bearer <API key>\".":     true,
		"Send exactly one Authorization header with one credential.": true,
	}
	f.Fuzz(func(t *testing.T, value string) {
		r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
		require.NoError(t, err)
		r.Header["Authorization"] = []string{value}
		token, err := bearer.Token(r)
		if err != nil {
			e, ok := apierror.As(err)
			require.True(t, ok)
			require.Equal(t, apierror.CodeUnauthenticated, e.Code())
			require.True(t, messages[e.Message()], "unexpected message %q", e.Message())
			require.Empty(t, token)
		} else {
			require.NotEmpty(t, token)
			scheme, rest, ok := strings.Cut(value, " ")
			require.True(t, ok)
			require.True(t, strings.EqualFold(scheme, "bearer"))
			require.Equal(t, token, strings.TrimLeft(rest, " "))
			require.NotContains(t, token, ",")
			require.NotContains(t, token, " ")
			trimmed := strings.TrimRight(token, "=")
			require.NotEmpty(t, trimmed)
			require.NotContains(t, trimmed, "=")
		}

		r.Header["Authorization"] = []string{"Bearer abc", value}
		_, err = bearer.Token(r)
		assert.ErrorIs(t, err, bearer.ErrDuplicated)
	})
}
