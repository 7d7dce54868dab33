package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// TestErrorCatalogue: GET /v1/errors serves docs/catalogue.json, the 23
// codes of apierror's table in its order, and needs no key.
func TestErrorCatalogue(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{})
		resp := s.do(t, request{method: "GET", path: "/v1/errors"})
		require.Equal(t, 200, resp.status)

		assert.Equal(t, "application/json", resp.header.Get("Content-Type"))
		docs, err := os.ReadFile("../../docs/catalogue.json")
		require.NoError(t, err)
		require.Equal(t, string(docs), string(resp.body), "the demo serves docs/catalogue.json byte for byte")

		var got []struct {
			Code              apierror.Code     `json:"code"`
			Status            int               `json:"status"`
			Category          apierror.Category `json:"category"`
			GuaranteedDetails []string          `json:"guaranteedDetails"`
			Message           string            `json:"message"`
		}
		require.NoError(t, json.Unmarshal(resp.body, &got))
		want := apierror.Catalogue()
		require.Len(t, got, 23)
		for i, spec := range want {
			assert.Equal(t, spec.Code, got[i].Code)
			assert.Equal(t, spec.Status, got[i].Status)
			assert.Equal(t, spec.Category, got[i].Category)
			assert.Equal(t, spec.Message, got[i].Message)
			assert.NotNil(t, got[i].GuaranteedDetails, "[] rather than null when nothing is guaranteed")
		}
	})
}

// exampleHeaders are the Retry-After values the examples must send; every
// other code sends none.
var exampleHeaders = map[apierror.Code]string{
	apierror.CodeRateLimited:   "2",   // retryAfterMs 1500, rounded up
	apierror.CodeCircuitOpen:   "30",  // details.retryAfterSeconds
	apierror.CodePlatformError: "30",  // details.retryAfterMs 30000
	apierror.CodeKillSwitch:    "120", // global switch with an expected duration
}

// TestErrorExamples: GET /v1/errors/:code/example answers every code exactly
// as the API sends it: the catalogue status, the envelope with every
// guaranteed details field, Retry-After where the code has one, and a body
// that apierror.Decode reads back as the same code.
func TestErrorExamples(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{})
		for _, spec := range apierror.Catalogue() {
			t.Run(string(spec.Code), func(t *testing.T) {
				resp := s.do(t, request{method: "GET", path: "/v1/errors/" + string(spec.Code) + "/example"})
				env := requireError(t, resp, spec.Status, string(spec.Code))
				require.Equal(t, exampleHeaders[spec.Code], resp.header.Get("Retry-After"))

				if len(spec.Details) > 0 {
					var details map[string]json.RawMessage
					require.NoError(t, json.Unmarshal(env.Error.Details, &details), "details: %s", env.Error.Details)
					for _, field := range spec.Details {
						require.Contains(t, details, field, "guaranteed field %s missing", field)
					}
				}
				if spec.Code == apierror.CodeInternal {
					require.Equal(t, apierror.InternalMessage, env.Error.Message)
					requireDetails(t, env, "")
				}

				decoded := apierror.Decode(resp.status, resp.body)
				require.True(t, apierror.HasCode(decoded, spec.Code), "%v", decoded)
				e, ok := apierror.As(decoded)
				require.True(t, ok)
				require.Equal(t, env.Error.RequestID, e.RequestID())
				if after, ok := e.RetryAfter(); ok {
					require.Equal(t, fmt.Sprint(apierror.RetryAfterSeconds(after)), resp.header.Get("Retry-After"))
				}
			})
		}

		t.Run("exact bodies", func(t *testing.T) {
			for code, details := range map[string]string{
				"RATE_LIMITED":          `{"retryAfterMs":1500}`,
				"PAYLOAD_TOO_LARGE":     `{"maxBytes":1048576}`,
				"KILL_SWITCH":           `{"scope":"global"}`,
				"BILLING_EXHAUSTED":     `{"reason":"insufficient"}`,
				"MODERATION_BLOCKED":    `{"safetyCategory":"violence"}`,
				"APPROVAL_REQUIRED":     `{"containerId":"cnt_7d18b9a1-8b2c-4f3e-a4d5-6e7f8a9b0c1d","approvalStatus":"pending"}`,
				"CIRCUIT_OPEN":          `{"resource":"appstore","retryAfterSeconds":30}`,
				"FORBIDDEN_SCOPE":       `{"requiredScope":"content:write"}`,
				"NOT_FOUND":             "",
				"UNAUTHENTICATED":       "",
				"INTERNAL":              "",
				"PLATFORM_ERROR":        `{"platform":"tiktok","platformCode":"rate_limit_exceeded","platformMessage":"Too many uploads for this account, try again later.","retryAfterMs":30000}`,
				"UPLOAD_QUOTA_EXCEEDED": `{"currentUploads":500,"maxUploads":500,"currentBytes":9663676416,"maxBytes":10737418240}`,
			} {
				env := requireError(t, s.do(t, request{method: "GET", path: "/v1/errors/" + code + "/example"}), apierror.Code(code).Status(), code)
				requireDetails(t, env, details)
			}
		})

		t.Run("unknown code", func(t *testing.T) {
			for _, code := range []string{"NOPE", "rate_limited", "%20", "RATE_LIMITED%0A"} {
				requireError(t, s.do(t, request{method: "GET", path: "/v1/errors/" + code + "/example"}), 404, "NOT_FOUND")
			}
		})
	})
}

// TestInternalExampleLogsCause: the INTERNAL example really fails with a
// cause holding a secret; the response (body and headers) never has it, the
// log has it in the field "error" of the line with the response's requestId.
func TestInternalExampleLogsCause(t *testing.T) {
	forEachFramework(t, func(t *testing.T, fw string) {
		s := startServer(t, fw, Config{})
		req, err := http.NewRequest("GET", s.URL+"/v1/errors/INTERNAL/example", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())

		requireError(t, response{resp.StatusCode, resp.Header, body}, 500, "INTERNAL")
		require.NotContains(t, string(body), exampleSecret)
		require.NotContains(t, string(body), "postgres")
		var raw bytes.Buffer
		require.NoError(t, resp.Header.Write(&raw))
		require.NotContains(t, raw.String(), exampleSecret)

		reqID := resp.Header.Get("X-Request-Id")
		var found bool
		for _, line := range s.logs.lines(t) {
			if line["requestId"] != reqID || line["code"] != "INTERNAL" {
				continue
			}
			found = true
			require.Equal(t, "ERROR", line["level"])
			require.Contains(t, line["error"], exampleSecret)
			require.True(t, strings.HasPrefix(line["error"].(string), "example: charge wallet:"))
			require.Equal(t, "/v1/errors/:code/example", line["route"])
		}
		require.True(t, found, "no INTERNAL log line with requestId %s", reqID)

		// WORKFLOW_START_FAILED's cause is logged and never sent either.
		wsf := s.do(t, request{method: "GET", path: "/v1/errors/WORKFLOW_START_FAILED/example"})
		requireError(t, wsf, 500, "WORKFLOW_START_FAILED")
		require.NotContains(t, string(wsf.body), "queue generation is paused")
		require.Contains(t, logText(t, s, wsf.header.Get("X-Request-Id")), "queue generation is paused")
	})
}

// logText returns the log lines of one request, re-encoded.
func logText(t *testing.T, s *testServer, reqID string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range s.logs.lines(t) {
		if line["requestId"] == reqID {
			j, _ := json.Marshal(line)
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
