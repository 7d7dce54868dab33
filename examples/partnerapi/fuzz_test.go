package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzCreateContent sends arbitrary bodies to POST
// /v1/projects/{projectId}/content through the whole middleware stack of
// every framework: the answer is always one of the route's documented
// outcomes, never INTERNAL, an error is always the envelope, and every
// framework answers the same status, headers and bytes (but for IDs).
func FuzzCreateContent(f *testing.F) {
	for _, s := range []string{`{"hook":"x"}`, `{"hook":""}`, `{"hook":42}`, `{"hook":`, `{"engagement":1}`, `null`, `[]`, `"x"`, `{"hook":"` + strings.Repeat("é", 281) + `"}`, "\xff"} {
		f.Add(s)
	}
	servers := make([]*Server, len(testFrameworks))
	for i, fw := range testFrameworks {
		srv, err := New(Config{Framework: fw, ReadRate: unlimited.ReadRate, WriteRate: unlimited.WriteRate, JobDelay: time.Hour})
		require.NoError(f, err)
		f.Cleanup(func() { _ = srv.Close() })
		servers[i] = srv
	}
	f.Fuzz(func(t *testing.T, body string) {
		var first *httptest.ResponseRecorder
		for i, srv := range servers {
			req := httptest.NewRequest("POST", "/v1/projects/prj_demo/content", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+keyFull)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, req)
			requireCreateOutcome(t, rec, body)
			if i == 0 {
				first = rec
				continue
			}
			require.Equal(t, first.Code, rec.Code, "%s and %s differ on %q", testFrameworks[0], testFrameworks[i], body)
			require.Equal(t, normalise(first.Body.String()), normalise(rec.Body.String()), "%s and %s differ on %q", testFrameworks[0], testFrameworks[i], body)
			fh, rh := first.Header().Clone(), rec.Header().Clone()
			fh.Del("X-Request-Id")
			rh.Del("X-Request-Id")
			require.Equal(t, fh, rh, "%s and %s differ on %q", testFrameworks[0], testFrameworks[i], body)
		}
	})
}

// requireCreateOutcome checks that rec is one of the documented answers of
// the create route.
func requireCreateOutcome(t *testing.T, rec *httptest.ResponseRecorder, body string) {
	t.Helper()
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	switch rec.Code {
	case http.StatusAccepted:
		require.Contains(t, rec.Body.String(), `"containerId":"cnt_`)
	case http.StatusUnprocessableEntity:
		requireError(t, resp, rec.Code, "VALIDATION")
	case http.StatusForbidden:
		requireError(t, resp, rec.Code, "FORBIDDEN_FENCE")
	case http.StatusPaymentRequired:
		// 1000 credits: reachable only by a long fuzzing run.
		requireError(t, resp, rec.Code, "BILLING_EXHAUSTED")
	default:
		t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
	}
	require.True(t, utf8.Valid(rec.Body.Bytes()))
}
