package apierror_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// oddStrings are strings whose JSON escaping is easy to get wrong.
var oddStrings = []string{
	"",
	"plain",
	`quote " backslash \ slash /`,
	"\x00\x01\x1f\x7f",
	"\b\f\n\r\t",
	"<script>alert('x')</script> & co",
	"line\u2028separator\u2029paragraph",
	"invalid \xff\xfe utf-8 \xc3\x28 \xed\xa0\x80 end",
	"truncated rune \xe2\x82",
	"emoji 🚀 and accents é ñ 中文",
	"\ufffd literal replacement char",
	strings.Repeat("long ", 200),
}

// randomString draws from an alphabet of bytes and runes that JSON escaping
// treats specially, plus random bytes (often invalid UTF-8).
func randomString(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "0", " ", `"`, `\`, "/", "<", ">", "&", "\n", "\t", "\x00", "\x1f", "\x7f",
		"\u2028", "\u2029", "é", "🚀", "\ufffd", "\xff", "\xc3", "\xe2\x82"}
	n := r.IntN(24)
	var b strings.Builder
	for range n {
		if r.IntN(5) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
	}
	return b.String()
}

// errorsFromStrings builds one error per constructor (and per details shape)
// from the given strings.
func errorsFromStrings(s1, s2, s3 string, n int64) []*apierror.Error {
	d := time.Duration(n)
	return []*apierror.Error{
		apierror.Unauthenticated().WithMessage(s1),
		apierror.ForbiddenScope(s1),
		apierror.ForbiddenFence(s1, s2),
		apierror.NotFound().WithMessage(s2),
		apierror.Conflict(s1),
		apierror.ConflictBlockedBy(s1, s2),
		apierror.IdempotencyConflict(s1, s2),
		apierror.Validation(apierror.Issue{Path: s1, Message: s2}, apierror.Issue{Path: s3, Message: s1}),
		apierror.ValidationWithCode(apierror.ValidationCode(s3), apierror.Issue{Path: s1, Message: s2}),
		apierror.UploadIncomplete(s1),
		apierror.PayloadTooLarge(n),
		apierror.ApprovalRequired(s1, apierror.ApprovalPending),
		apierror.ContentRejected(s2),
		apierror.ReturnURLNotAllowed(s1),
		apierror.ReturnURLNotAllowed("https://" + s2 + "/cb"),
		apierror.KillSwitch(apierror.ScopeOrganization).WithMessage(s3),
		apierror.BillingExhausted(apierror.BillingInsufficient),
		apierror.BillingExhaustedAllocate(),
		apierror.ModerationBlocked(s1),
		apierror.CredentialInvalid(apierror.PlatformAppStore, s2),
		apierror.CircuitOpen(s1, d),
		apierror.UploadQuotaExceeded(apierror.UploadUsage{CurrentUploads: n, MaxUploads: -n, CurrentBytes: n / 3, MaxBytes: 0}),
		apierror.RateLimited(d),
		apierror.Internal(errors.New(s1)).WithMessage(s2),
		apierror.PlatformError(apierror.PlatformInstagram, s1, s2, d),
		apierror.PlatformError(apierror.PlatformTikTok, s1, s2, 0),
		apierror.ScrapeFailed(s3),
		apierror.WorkflowStartFailed(errors.New(s3)),
		apierror.NewWithDetails(apierror.CodeConflict, map[string]string{"reason": s1, "extra": s2}),
	}
}

// TestAppendJSONMatchesEncodingJSON is the property that lets AppendJSON skip
// reflection: for every constructor and any strings, its bytes are exactly
// json.Marshal(e.Envelope(id)) — HTML-safe escaping, U+2028/U+2029 escaped,
// invalid UTF-8 replaced — and they are valid JSON.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	check := func(t *testing.T, e *apierror.Error, id string) {
		t.Helper()
		got := e.AppendJSON([]byte("prefix:"), id)
		require.True(t, strings.HasPrefix(string(got), "prefix:"), "AppendJSON appends")
		got = got[len("prefix:"):]
		want, err := json.Marshal(e.Envelope(id))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "code %s id %q", e.Code(), id)
		require.True(t, json.Valid(got))
		require.True(t, utf8.Valid(got), "output is valid UTF-8")
		require.Equal(t, string(got), string(e.Render(id)))
		m, err := e.MarshalJSON()
		require.NoError(t, err)
		require.Equal(t, string(e.Render("")), string(m))
	}

	t.Run("odd strings", func(t *testing.T) {
		for i, s := range oddStrings {
			for _, e := range errorsFromStrings(s, oddStrings[(i+1)%len(oddStrings)], oddStrings[(i+5)%len(oddStrings)], int64(i)*1e9+7) {
				check(t, e, s)
			}
		}
	})
	t.Run("random strings", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 500 {
			n := r.Int64() >> r.IntN(64)
			if r.IntN(2) == 0 {
				n = -n
			}
			for _, e := range errorsFromStrings(randomString(r), randomString(r), randomString(r), n) {
				check(t, e, randomString(r))
			}
		}
	})
}

func TestEnvelope(t *testing.T) {
	e := apierror.ForbiddenScope("content:write").WithCause(errors.New("secret"))
	env := e.Envelope("req_1")
	assert.Equal(t, apierror.Envelope{Error: apierror.Body{
		Code:      apierror.CodeForbiddenScope,
		Message:   "The API key is missing the scope content:write this route needs.",
		RequestID: "req_1",
		Details:   json.RawMessage(`{"requiredScope":"content:write"}`),
	}}, env)

	noDetails := apierror.NotFound().Envelope("req_2")
	assert.Nil(t, noDetails.Error.Details)
	b, err := json.Marshal(noDetails)
	require.NoError(t, err)
	assert.Equal(t, `{"error":{"code":"NOT_FOUND","message":"The resource does not exist.","requestId":"req_2"}}`, string(b),
		"details omitted when the code carries none")
}

// TestMarshalJSONNeverLeaksCause: an *Error embedded in another JSON value
// renders as an envelope without its cause.
func TestMarshalJSONNeverLeaksCause(t *testing.T) {
	v := map[string]any{"err": apierror.Internal(errors.New("password=hunter2"))}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, `{"err":{"error":{"code":"INTERNAL","message":"An unexpected error occurred. Please contact support with the requestId.","requestId":""}}}`, string(b))
}
