package echo5

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v5"
)

// maxIssueMessage bounds what an issue may carry: httperror reuses a
// framework message of at most 200 bytes, and its own messages add a
// little around a byte offset.
const maxIssueMessage = 200

// FuzzBindBody posts arbitrary bodies to an echo v5 handler that binds
// JSON: every failure is a client error rendered as a valid envelope
// (VALIDATION or PAYLOAD_TOO_LARGE), never INTERNAL, and its issues never
// echo more than a short printable message.
func FuzzBindBody(f *testing.F) {
	for _, s := range []string{`{"n":1}`, `{"n":"x"}`, `{"n":1,}`, `{"n":`, `[]`, `{"name":"` + "\u2028" + `"}`, "\xff", `{"n":1e999}`, strings.Repeat("[", 2000)} {
		f.Add(s)
	}
	e := echo.New()
	if err := Install(e, Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		f.Fatal(err)
	}
	e.POST("/x", func(c *echo.Context) error {
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
			if len(is.Message) > maxIssueMessage+80 || len(is.Path) > maxIssueMessage {
				t.Fatalf("oversized issue %+v", is)
			}
		}
	})
}
