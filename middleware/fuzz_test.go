package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/oklog/ulid/v2"
	"go.uber.org/zap"
)

// FuzzValidRequestID checks ValidRequestID against the ulid package's strict
// parser, and that whatever inbound value arrives, the response's request ID
// is well formed and is the inbound value only when that value is valid.
func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{
		"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T", "req_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "req_01hxz9g7kmv2qx8y1s5rjw3b7t",
		"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\r\nX: y", "req_", "", "req_01HXZ9G7KMV2QX8Y1S5RJW3BÄ",
	} {
		f.Add(s)
	}
	e := echo.New()
	e.Use(RequestIDWithConfig(RequestIDConfig{TrustInbound: true, Logger: zap.NewNop()}))
	e.GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidRequestID(s)
		if len(s) == requestIDLen && s[:4] == "req_" {
			u, err := ulid.ParseStrict(s[4:])
			want := err == nil && u.String() == s[4:]
			if valid != want {
				t.Fatalf("ValidRequestID(%q) = %v, ulid says %v (%v)", s, valid, want, err)
			}
		} else if valid {
			t.Fatalf("ValidRequestID(%q) = true", s)
		}
		req := httptestRequest()
		req.Header[HeaderRequestID] = []string{s}
		rec := serve(e, req)
		got := rec.Header().Get(HeaderRequestID)
		if !ValidRequestID(got) {
			t.Fatalf("response request ID %q is not well formed", got)
		}
		if (got == s) != valid {
			t.Fatalf("inbound %q valid=%v, response ID %q", s, valid, got)
		}
	})
}

// FuzzBindBody posts arbitrary bodies to a handler that binds JSON: every
// failure is a client error rendered as a valid envelope (VALIDATION or
// PAYLOAD_TOO_LARGE), never INTERNAL, and its issues never echo more than
// a short printable message.
func FuzzBindBody(f *testing.F) {
	for _, s := range []string{`{"n":1}`, `{"n":"x"}`, `{"n":1,}`, `{"n":`, `[]`, `{"name":"` + "\u2028" + `"}`, "\xff", `{"n":1e999}`} {
		f.Add(s)
	}
	e := echo.New()
	if err := Install(e, Config{Logger: zap.NewNop()}); err != nil {
		f.Fatal(err)
	}
	e.POST("/x", func(c echo.Context) error {
		var v bindTarget
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}, BodyLimit(1<<10))
	f.Fuzz(func(t *testing.T, s string) {
		req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(s))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		rec := serve(e, req)
		if rec.Code == http.StatusNoContent {
			return
		}
		var env envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body)
		}
		if env.Error.Code != "VALIDATION" && env.Error.Code != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("body %q answered %s", s, rec.Body)
		}
		var d struct {
			Issues []struct{ Path, Message string }
		}
		_ = json.Unmarshal(env.Error.Details, &d)
		for _, is := range d.Issues {
			if len(is.Message) > maxClientMessage+80 || len(is.Path) > maxClientMessage {
				t.Fatalf("oversized issue %+v", is)
			}
		}
	})
}
