package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzBearerToken: whatever the header, an accepted token is one non-empty
// word after a case-insensitive "Bearer ".
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer lp_demo_full", "bearer x", "Bearer", "Bearer ", "Bearer  x", "Basic x", "Bearer a b", "Bearer\tx", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := bearerToken(header)
		if !ok {
			require.Empty(t, token)
			return
		}
		require.NotEmpty(t, token)
		require.False(t, strings.ContainsAny(token, " \t"))
		require.True(t, strings.EqualFold(header[:len("Bearer ")], "Bearer "))
		require.Equal(t, header[len("Bearer "):], token)
	})
}

// FuzzCreateContent sends arbitrary bodies to POST
// /v1/projects/:projectId/content through the whole middleware stack: the
// answer is always one of the route's documented outcomes, never INTERNAL,
// and an error is always the envelope.
func FuzzCreateContent(f *testing.F) {
	for _, s := range []string{`{"hook":"x"}`, `{"hook":""}`, `{"hook":42}`, `{"hook":`, `{"engagement":1}`, `null`, `[]`, `"x"`, `{"hook":"` + strings.Repeat("é", 281) + `"}`, "\xff"} {
		f.Add(s)
	}
	srv, err := New(Config{ReadRate: unlimited.ReadRate, WriteRate: unlimited.WriteRate})
	require.NoError(f, err)
	f.Cleanup(func() { _ = srv.Close() })
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/projects/prj_demo/content", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keyFull)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusAccepted:
			require.Contains(t, rec.Body.String(), `"containerId":"cnt_`)
		case http.StatusUnprocessableEntity, http.StatusForbidden:
			resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			code := "VALIDATION"
			if rec.Code == http.StatusForbidden {
				code = "FORBIDDEN_FENCE"
			}
			requireError(t, resp, rec.Code, code)
		case http.StatusPaymentRequired:
			// 1000 credits: reachable only by a long fuzzing run.
			requireError(t, response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, rec.Code, "BILLING_EXHAUSTED")
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		require.True(t, utf8.Valid(rec.Body.Bytes()))
	})
}
