package idempotency

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		msg  string // "" when valid
	}{
		{"uuid", "4f1d2c1e-9a39-4c9b-8a5e-0c1b2d3e4f50", ""},
		{"single char", "a", ""},
		{"space and punctuation", ` !"#$%&'()*+,-./:;<=>?@[\]^_{|}~`, ""},
		{"255 chars", strings.Repeat("k", 255), ""},
		{"empty", "", msgEmpty},
		{"256 chars", strings.Repeat("k", 256), msgTooLong},
		{"NUL", "ab\x00cd", msgCharset},
		{"newline", "ab\ncd", msgCharset},
		{"CR", "ab\rcd", msgCharset},
		{"tab", "ab\tcd", msgCharset},
		{"DEL", "ab\x7fcd", msgCharset},
		{"non-ASCII", "clé", msgCharset},
		{"invalid UTF-8", "ab\xffcd", msgCharset},
		{"255 non-ASCII bytes", strings.Repeat("\x80", 255), msgCharset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKey(tt.key)
			if tt.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, errkitIs(err, apierror.CodeValidation))
			d, ok := apierror.DetailsAs[apierror.ValidationDetails](err)
			require.True(t, ok)
			assert.Equal(t, []apierror.Issue{{Path: "header:Idempotency-Key", Message: tt.msg}}, d.Issues)
		})
	}
}

func TestValidateKeyWire(t *testing.T) {
	e, ok := apierror.As(ValidateKey(strings.Repeat("x", 300)))
	require.True(t, ok)
	assert.Equal(t, 422, e.Status())
	assert.Equal(t,
		`{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req_1",`+
			`"details":{"issues":[{"path":"header:Idempotency-Key","message":"Idempotency-Key must be at most 255 characters long."}]}}}`,
		string(e.Render("req_1")))
}

// errkitIs reports whether err is an *apierror.Error of code.
func errkitIs(err error, code apierror.Code) bool { return apierror.CodeOf(err) == code }

// FuzzKey checks ValidateKey against the definition (1–255 bytes of
// 0x20–0x7E), and that a rejected value is never echoed in the response.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"a", "", "key with spaces", "clé", "a\x00b", "\r\n", strings.Repeat("z", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		want := len(key) >= 1 && len(key) <= 255 && strings.IndexFunc(key, func(r rune) bool {
			return r < 0x20 || r > 0x7e // invalid UTF-8 decodes to U+FFFD > 0x7e
		}) < 0
		err := ValidateKey(key)
		if want {
			if err != nil {
				t.Fatalf("ValidateKey(%q) = %v, want nil", key, err)
			}
			return
		}
		e, ok := apierror.As(err)
		if !ok || e.Code() != apierror.CodeValidation {
			t.Fatalf("ValidateKey(%q) = %v, want VALIDATION", key, err)
		}
		out := string(e.Render("req_x"))
		if key != "" && strings.Contains(out, key) {
			t.Fatalf("response echoes the rejected key %q: %s", key, out)
		}
	})
}
