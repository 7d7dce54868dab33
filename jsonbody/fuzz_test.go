package jsonbody_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jsonbody"
)

// FuzzDecode feeds bodies and Content-Types to Decode, into a struct and
// into an untyped value. Properties: it never panics; a refusal is
// VALIDATION with exactly one issue or PAYLOAD_TOO_LARGE with the cap, and
// it renders as a valid envelope; an accepted body is valid UTF-8 and one
// JSON value nesting at most MaxDepth levels (small here, so short inputs
// reach it), and decodes to what encoding/json's Unmarshal makes of it.
func FuzzDecode(f *testing.F) {
	for _, s := range []struct{ body, ct string }{
		{`{"name":"a","count":1,"items":[{"id":2}]}`, "application/json"},
		{`{"name":"a"}x`, "application/json"},
		{`{"a":1,"a":2}`, "application/json; charset=utf-8"},
		{"{\"name\":\"\xff\"}", "application/json"},
		{`{"name":"\ud800"}`, "application/json"},
		{`[1,2,]`, "application/merge-patch+json"},
		{`<a/>`, "application/xml"},
		{`{}`, "application/json; charset=latin1"},
		{``, "application/json"},
		{strings.Repeat("[", 200), "application/json"},
		{`{"a":[{"b":[[[[[1]]]]]}]}`, "application/json"},
		{`{"a":[{"b":[[[[[[1]]]]]]}]}`, "application/json"},
	} {
		f.Add([]byte(s.body), s.ct)
	}
	const max, maxDepth = 256, 8
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		for _, v := range []any{&content{}, new(any)} {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
			r.Header["Content-Type"] = []string{ct}
			err := jsonbody.Decode(r, v, jsonbody.Options{MaxBytes: max, MaxDepth: maxDepth})
			if err != nil {
				e, ok := apierror.As(err)
				require.True(t, ok)
				env := e.Render("req_1")
				require.True(t, json.Valid(env), "%s", env)
				switch e.Code() {
				case apierror.CodeValidation:
					d, ok := apierror.DetailsAs[apierror.ValidationDetails](e)
					require.True(t, ok)
					require.Len(t, d.Issues, 1)
					require.NotEmpty(t, d.Issues[0].Path)
					require.True(t, utf8.ValidString(d.Issues[0].Path))
				case apierror.CodePayloadTooLarge:
					require.Greater(t, len(body), max)
				default:
					t.Fatalf("unexpected code %s", e.Code())
				}
				continue
			}
			if len(strings.Trim(string(body), " \t\r\n")) == 0 {
				t.Fatalf("an empty body was accepted")
			}
			require.True(t, utf8.Valid(body))
			require.True(t, json.Valid(body))
			require.LessOrEqual(t, depthOf(body), maxDepth)
			switch v := v.(type) {
			case *content:
				var want content
				require.NoError(t, json.Unmarshal(body, &want))
				require.Equal(t, want, *v)
			case *any:
				var want any
				require.NoError(t, json.Unmarshal(body, &want))
				require.Equal(t, want, *v)
			}
		}
	})
}

// depthOf is how deep arrays and objects nest in b, valid JSON.
func depthOf(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}
