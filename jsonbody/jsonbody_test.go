package jsonbody_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
	"github.com/layershq/errkit/jsonbody"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct {
	ID int `json:"id"`
}

type content struct {
	Name   string `json:"name"`
	Count  int    `json:"count"`
	Items  []item `json:"items"`
	Nested struct {
		Deep struct {
			X int `json:"x"`
		} `json:"deep"`
	} `json:"nested"`
}

// post returns a POST with body and Content-Type ct ("" for none).
func post(body, ct string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/content", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

// details returns err's code and details JSON.
func details(t *testing.T, err error) (apierror.Code, string) {
	t.Helper()
	e, ok := apierror.As(err)
	require.True(t, ok, "an *apierror.Error: %v", err)
	return e.Code(), string(e.RawDetails())
}

func issue(path, msg string) string {
	b, _ := json.Marshal(map[string]any{"issues": []apierror.Issue{{Path: path, Message: msg}}})
	return string(b)
}

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		opts    jsonbody.Options
		details string // "" when accepted
	}{
		{name: "object", body: `{"name":"a","count":2,"items":[{"id":1}]}`},
		{name: "surrounding whitespace", body: " \r\n\t{\"name\":\"a\"}\n "},
		{name: "surrogate pair escape", body: `{"name":"\ud83d\ude00"}`},
		{name: "escaped backslash before u", body: `{"name":"\\ud800"}`},
		{name: "unknown field allowed by default", body: `{"other":1}`},
		{name: "same key in sibling objects", body: `{"items":[{"id":1},{"id":2}]}`},

		{name: "empty", body: "", details: issue("body", "The body is empty; send a JSON value.")},
		{name: "whitespace only", body: " \n", details: issue("body", "The body is empty; send a JSON value.")},
		{name: "trailing garbage", body: `{"name":"a"}x`, details: issue("body", "The body has data after the JSON value (at byte offset 12).")},
		{name: "second value", body: `{} {}`, details: issue("body", "The body has data after the JSON value (at byte offset 3).")},
		{name: "number then letters", body: `123abc`, details: issue("body", "The body has data after the JSON value (at byte offset 3).")},
		{name: "invalid UTF-8 in a string", body: "{\"name\":\"\xff\"}", details: issue("body", "The body is not valid UTF-8 (invalid byte at offset 9).")},
		{name: "invalid UTF-8 after the value", body: "{}\xc3", details: issue("body", "The body is not valid UTF-8 (invalid byte at offset 2).")},
		{name: "overlong encoding", body: "{\"name\":\"\xc0\xaf\"}", details: issue("body", "The body is not valid UTF-8 (invalid byte at offset 9).")},
		{name: "lone high surrogate", body: `{"name":"\ud800"}`, details: issue("body", "The body escapes half a UTF-16 surrogate pair (at byte offset 9).")},
		{name: "lone low surrogate", body: `{"name":"x\uDC00"}`, details: issue("body", "The body escapes half a UTF-16 surrogate pair (at byte offset 10).")},
		{name: "high surrogate then non-surrogate", body: `["\ud800\u0041"]`, details: issue("body", "The body escapes half a UTF-16 surrogate pair (at byte offset 2).")},
		{name: "surrogate in a key", body: `{"\udfff":1}`, details: issue("body", "The body escapes half a UTF-16 surrogate pair (at byte offset 2).")},
		{name: "syntax error", body: `{"name" 1}`, details: issue("body", "The body is not valid JSON (syntax error at byte offset 8).")},
		{name: "trailing comma", body: `[1,2,]`, details: issue("body", "The body is not valid JSON (syntax error at byte offset 5).")},
		{name: "ends early", body: `{"name":`, details: issue("body", "The body is not valid JSON (it ends too early).")},
		{name: "wrong type", body: `{"name":1}`, details: issue("name", "must be a string, got number.")},
		{name: "wrong type nested", body: `{"nested":{"deep":{"x":"s"}}}`, details: issue("nested.deep.x", "must be an integer, got string.")},
		{name: "wrong type in array", body: `{"items":[{"id":"x"}]}`, details: issue("items.id", "must be an integer, got string.")},
		{name: "wrong top-level type", body: `[]`, details: issue("body", "must be an object, got array.")},
		{name: "unknown field refused", body: `{"zzz":1}`, opts: jsonbody.Options{DisallowUnknownFields: true}, details: issue("zzz", "is not a known field.")},
		{name: "duplicate key", body: `{"name":"a","name":"b"}`, details: issue("name", "appears more than once in its object.")},
		{name: "duplicate key spelled with an escape", body: `{"name":"a","n\u0061me":"b"}`, details: issue("name", "appears more than once in its object.")},
		{name: "duplicate key in an array element", body: `{"items":[{"id":1},{"id":1,"id":2}]}`, details: issue("items[1].id", "appears more than once in its object.")},
		{name: "duplicate key, not a plain name", body: `{"a":{"b c":1,"b c":2}}`, details: issue(`a["b c"]`, "appears more than once in its object.")},
		{name: "duplicate empty key", body: `{"":1,"":2}`, details: issue(`[""]`, "appears more than once in its object.")},
		{name: "duplicate key in nested arrays", body: `[[{"a":1,"a":1}]]`, details: issue("[0][0].a", "appears more than once in its object.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any = &content{}
			if strings.HasPrefix(tt.body, "[") && tt.name != "wrong top-level type" {
				v = &[]any{} // the structural cases with an array at the top
			}
			err := jsonbody.Decode(post(tt.body, "application/json"), v, tt.opts)
			if tt.details == "" {
				require.NoError(t, err)
				want := &content{}
				require.NoError(t, json.Unmarshal([]byte(tt.body), want))
				assert.Equal(t, want, v)
				return
			}
			code, d := details(t, err)
			assert.Equal(t, apierror.CodeValidation, code)
			assert.JSONEq(t, tt.details, d)
		})
	}
}

// TestRefusedBodyLeavesValue: checks on the bytes run before anything is
// decoded into the caller's value.
func TestRefusedBodyLeavesValue(t *testing.T) {
	for _, body := range []string{`{"name":"b"} x`, `{"name":"b","name":"c"}`, "{\"name\":\"b\xff\"}", `{"name":"\ud800"}`, `{"name":"b",`} {
		v := content{Name: "before"}
		require.Error(t, jsonbody.Decode(post(body, "application/json"), &v, jsonbody.Options{}))
		assert.Equal(t, "before", v.Name, body)
	}
}

func TestContentType(t *testing.T) {
	const unsupported = "Unsupported Content-Type; send application/json."
	tests := []struct {
		ct  string
		msg string // "" when accepted
	}{
		{ct: "application/json"},
		{ct: "Application/JSON"},
		{ct: "application/json; charset=utf-8"},
		{ct: "application/json;charset=UTF-8"},
		{ct: `application/json; charset="utf-8"`},
		{ct: "application/merge-patch+json"},
		{ct: "application/problem+json; charset=utf-8"},

		{ct: "", msg: "Content-Type is required; send application/json."},
		{ct: "application/xml", msg: unsupported},
		{ct: "text/xml", msg: unsupported},
		{ct: "application/x-www-form-urlencoded", msg: unsupported},
		{ct: "multipart/form-data; boundary=x", msg: unsupported},
		{ct: "text/plain", msg: unsupported},
		{ct: "text/json", msg: unsupported},
		{ct: "application/+json", msg: unsupported},
		{ct: "application/jsonx", msg: unsupported},
		{ct: "application/json-seq", msg: unsupported},
		{ct: "application/json/x", msg: unsupported},
		{ct: "application", msg: unsupported},
		{ct: "application/json; charset=utf-8; charset=latin1", msg: unsupported},
		{ct: "application/json; charset=latin1", msg: "The only charset accepted is utf-8."},
		{ct: "application/json; charset=utf-16", msg: "The only charset accepted is utf-8."},
		{ct: "application/json; boundary=x", msg: "Unsupported Content-Type parameter; only charset=utf-8 is accepted."},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			var v content
			err := jsonbody.Decode(post(`{"name":"a"}`, tt.ct), &v, jsonbody.Options{})
			if tt.msg == "" {
				require.NoError(t, err)
				assert.Equal(t, "a", v.Name)
				return
			}
			code, d := details(t, err)
			assert.Equal(t, apierror.CodeValidation, code)
			assert.JSONEq(t, issue("header:Content-Type", tt.msg), d)
			assert.Empty(t, v.Name)
		})
	}
	t.Run("two Content-Type headers", func(t *testing.T) {
		r := post(`{}`, "application/json")
		r.Header.Add("Content-Type", "application/json")
		code, d := details(t, jsonbody.Decode(r, &content{}, jsonbody.Options{}))
		assert.Equal(t, apierror.CodeValidation, code)
		assert.JSONEq(t, issue("header:Content-Type", unsupported), d)
	})
}

func TestEmptyBody(t *testing.T) {
	emptyIssue := issue("body", "The body is empty; send a JSON value.")
	noBody := httptest.NewRequest(http.MethodPost, "/", http.NoBody)
	chunkedEmpty := post("", "application/json")
	chunkedEmpty.ContentLength = -1
	for name, r := range map[string]*http.Request{"no body": noBody, "chunked, empty": chunkedEmpty, "whitespace": post("  ", "application/json")} {
		t.Run(name, func(t *testing.T) {
			v := content{Name: "kept"}
			code, d := details(t, jsonbody.Decode(r, &v, jsonbody.Options{}))
			assert.Equal(t, apierror.CodeValidation, code)
			assert.JSONEq(t, emptyIssue, d)
		})
	}
	t.Run("AllowEmpty leaves v as it is", func(t *testing.T) {
		for _, r := range []*http.Request{
			httptest.NewRequest(http.MethodPost, "/", http.NoBody),
			post("", ""), // Content-Length 0: no Content-Type needed
			post(" \n", "application/json"),
		} {
			v := content{Name: "kept"}
			require.NoError(t, jsonbody.Decode(r, &v, jsonbody.Options{AllowEmpty: true}))
			assert.Equal(t, "kept", v.Name)
		}
	})
	t.Run("AllowEmpty still checks a body", func(t *testing.T) {
		code, _ := details(t, jsonbody.Decode(post(`{} x`, "application/json"), &content{}, jsonbody.Options{AllowEmpty: true}))
		assert.Equal(t, apierror.CodeValidation, code)
	})
}

func TestMaxBytes(t *testing.T) {
	body := `{"name":"` + strings.Repeat("a", 100) + `"}` // 111 bytes
	tests := []struct {
		name    string
		req     func() *http.Request
		max     int64
		details string
	}{
		{name: "Content-Length over the cap", max: 110, req: func() *http.Request { return post(body, "application/json") }, details: `{"maxBytes":110}`},
		{name: "chunked over the cap", max: 110, req: func() *http.Request {
			r := post(body, "application/json")
			r.ContentLength = -1
			return r
		}, details: `{"maxBytes":110}`},
		{name: "Content-Length understating the body", max: 110, req: func() *http.Request {
			r := post(body, "application/json")
			r.ContentLength = 10
			return r
		}, details: `{"maxBytes":110}`},
		{name: "exactly the cap", max: 111, req: func() *http.Request { return post(body, "application/json") }},
		{name: "an outer, smaller limit wins", max: 1 << 20, req: func() *http.Request {
			r := post(body, "application/json")
			r.ContentLength = -1
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 50)
			return r
		}, details: `{"maxBytes":50}`},
		{name: "default cap", req: func() *http.Request {
			return post(`"`+strings.Repeat("a", jsonbody.DefaultMaxBytes)+`"`, "application/json")
		}, details: `{"maxBytes":1048576}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := jsonbody.Decode(tt.req(), &v, jsonbody.Options{MaxBytes: tt.max})
			if tt.details == "" {
				require.NoError(t, err)
				return
			}
			code, d := details(t, err)
			assert.Equal(t, apierror.CodePayloadTooLarge, code)
			assert.JSONEq(t, tt.details, d)
		})
	}
}

func TestProgrammingMistakesAreInternal(t *testing.T) {
	err := jsonbody.Decode(post(`{}`, "application/json"), &content{}, jsonbody.Options{MaxBytes: -1})
	assert.True(t, apierror.HasCode(err, apierror.CodeInternal))
	err = jsonbody.Decode(post(`{}`, "application/json"), content{}, jsonbody.Options{})
	assert.True(t, apierror.HasCode(err, apierror.CodeInternal), "a non-pointer target")
}

func TestUnreadableBody(t *testing.T) {
	cause := errors.New("read tcp: i/o timeout")
	r := post("", "application/json")
	r.ContentLength = -1
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"na`), iotest.ErrReader(cause)))
	err := jsonbody.Decode(r, &content{}, jsonbody.Options{})
	code, d := details(t, err)
	assert.Equal(t, apierror.CodeValidation, code)
	assert.JSONEq(t, issue("body", "The body could not be read."), d)
	assert.ErrorIs(t, err, cause, "kept for the log")
}

// TestOnTheWire decodes through a real server and the error writer: the
// client gets the envelope, byte for byte, and the writer's headers.
func TestOnTheWire(t *testing.T) {
	w, err := httperror.New(httperror.Config{Logger: discard()})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var v content
		if err := jsonbody.Decode(r, &v, jsonbody.Options{MaxBytes: 64, DisallowUnknownFields: true}); err != nil {
			w.Write(rw, r, err)
			return
		}
		_, _ = io.WriteString(rw, v.Name)
	}))
	defer srv.Close()

	tests := []struct {
		body, ct string
		status   int
		want     string // the body, with the request ID replaced by "req"
	}{
		{`{"name":"ok"}`, "application/json", 200, "ok"},
		{`<name>ok</name>`, "application/xml", 422, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req","details":{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}}}`},
		{`name=ok`, "application/x-www-form-urlencoded", 422, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req","details":{"issues":[{"path":"header:Content-Type","message":"Unsupported Content-Type; send application/json."}]}}}`},
		{`{"name":"ok"}garbage`, "application/json", 422, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req","details":{"issues":[{"path":"body","message":"The body has data after the JSON value (at byte offset 13)."}]}}}`},
		{"{\"name\":\"o\xffk\"}", "application/json", 422, `{"error":{"code":"VALIDATION","message":"The request failed validation.","requestId":"req","details":{"issues":[{"path":"body","message":"The body is not valid UTF-8 (invalid byte at offset 10)."}]}}}`},
		{`{"name":"` + strings.Repeat("x", 64) + `"}`, "application/json", 413, `{"error":{"code":"PAYLOAD_TOO_LARGE","message":"The request body exceeds the size limit.","requestId":"req","details":{"maxBytes":64}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.ct+" "+tt.body, func(t *testing.T) {
			resp, err := http.Post(srv.URL, tt.ct, strings.NewReader(tt.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			id := resp.Header.Get("X-Request-Id")
			got := string(b)
			if id != "" {
				got = strings.Replace(got, id, "req", 1)
			}
			assert.Equal(t, tt.want, got)
			if tt.status != 200 {
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestMaxDepth(t *testing.T) {
	deep := func(n int, open, scalar, close string) string {
		return strings.Repeat(open, n) + scalar + strings.Repeat(close, n)
	}
	tooDeep := func(n int) string { return issue("body", fmt.Sprintf("The body nests deeper than %d levels.", n)) }
	tests := []struct {
		name    string
		body    string
		opts    jsonbody.Options
		details string // "" when accepted
	}{
		{name: "default depth, arrays", body: deep(jsonbody.DefaultMaxDepth, "[", "", "]")},
		{name: "default depth, objects", body: deep(jsonbody.DefaultMaxDepth, `{"a":`, "0", "}")},
		{name: "one past the default, arrays", body: deep(jsonbody.DefaultMaxDepth+1, "[", "", "]"), details: tooDeep(512)},
		{name: "one past the default, objects", body: deep(jsonbody.DefaultMaxDepth+1, `{"a":`, "0", "}"), details: tooDeep(512)},
		{name: "mixed, at MaxDepth", body: `{"a":[{"b":[]}]}`, opts: jsonbody.Options{MaxDepth: 4}},
		{name: "mixed, past MaxDepth", body: `{"a":[{"b":[[]]}]}`, opts: jsonbody.Options{MaxDepth: 4}, details: tooDeep(4)},
		{name: "wide is not deep", body: `[[],[],{"a":[]},[1,2]]`, opts: jsonbody.Options{MaxDepth: 3}},
		{name: "scalar at MaxDepth 1", body: `1`, opts: jsonbody.Options{MaxDepth: 1}},
		{name: "unclosed, too deep before the end", body: strings.Repeat("[", 10), opts: jsonbody.Options{MaxDepth: 3}, details: tooDeep(3)},
		{name: "encoding/json's own limit", body: deep(10000, "[", "", "]"), opts: jsonbody.Options{MaxDepth: 10000, MaxBytes: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any = "before"
			err := jsonbody.Decode(post(tt.body, "application/json"), &v, tt.opts)
			if tt.details == "" {
				require.NoError(t, err)
				var want any
				require.NoError(t, json.Unmarshal([]byte(tt.body), &want))
				assert.Equal(t, want, v)
				return
			}
			code, d := details(t, err)
			assert.Equal(t, apierror.CodeValidation, code)
			assert.JSONEq(t, tt.details, d)
			assert.Equal(t, "before", v, "refused before decoding")
		})
	}
	t.Run("out of range is INTERNAL", func(t *testing.T) {
		for _, depth := range []int{-1, 10001} {
			err := jsonbody.Decode(post(`{}`, "application/json"), &content{}, jsonbody.Options{MaxDepth: depth})
			assert.True(t, apierror.HasCode(err, apierror.CodeInternal), "MaxDepth %d: %v", depth, err)
		}
	})
}

// deepBody is a body of 1 MiB of "[", the default MaxBytes: before the
// depth limit it cost a heap frame per bracket (132 MiB, half a second).
var deepBody = strings.Repeat("[", jsonbody.DefaultMaxBytes)

// TestDeepBodyIsCheap: the million-bracket body is refused for its depth,
// and the whole Decode allocates about what reading the body costs
// (io.ReadAll: about twice the body, four times under -race) in a few dozen
// allocations, not memory in proportion to the brackets.
func TestDeepBodyIsCheap(t *testing.T) {
	r := post(deepBody, "application/json")
	var v any
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := jsonbody.Decode(r, &v, jsonbody.Options{})
	runtime.ReadMemStats(&after)

	code, d := details(t, err)
	assert.Equal(t, apierror.CodeValidation, code)
	assert.JSONEq(t, issue("body", "The body nests deeper than 512 levels."), d)
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(6<<20), "bytes allocated by Decode of a 1 MiB body")
	assert.Less(t, after.Mallocs-before.Mallocs, uint64(1000), "allocations by Decode of a 1 MiB body")
}

func BenchmarkDecodeDeepBody(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(deepBody)))
	for b.Loop() {
		var v any
		if err := jsonbody.Decode(post(deepBody, "application/json"), &v, jsonbody.Options{}); err == nil {
			b.Fatal("a 1 MiB deep body was accepted")
		}
	}
}
