// Package jsonbody decodes JSON request bodies strictly: a body is decoded
// only when exactly one reading of it is possible, and every refusal is an
// *apierror.Error that names the problem, so a handler returns it as it is.
//
// [Decode] answers VALIDATION (422) with one issue when:
//   - the Content-Type is missing or is not application/json or a +json
//     type (application/merge-patch+json), or has a parameter other than
//     charset=utf-8 (issue path "header:Content-Type"): an XML or form body
//     is never bound on a JSON route;
//   - the body is empty or only whitespace (unless [Options].AllowEmpty);
//   - the body is not valid UTF-8, anywhere, even inside strings, where
//     encoding/json would silently turn the bytes into U+FFFD; or a string
//     escapes half a UTF-16 surrogate pair ("\ud800"), which decodes to
//     U+FFFD too (RFC 7493, I-JSON);
//   - the JSON is malformed (the byte offset is named), or has data after
//     the value (`{"a":1}{"a":2}`, `{} x`);
//   - an object has the same key twice, at any depth (`{"a":1,"a":2}`:
//     parsers disagree on which wins);
//   - arrays and objects nest deeper than [Options].MaxDepth
//     ([DefaultMaxDepth], 512, by default): the check stops at the first
//     level too deep, so a body of a million "[" costs a bounded amount of
//     memory and time, not one allocation per bracket;
//   - a value has the wrong type (the issue names the field path) or, with
//     [Options].DisallowUnknownFields, a field is unknown (the issue names
//     it).
//
// and PAYLOAD_TOO_LARGE (413) with details.maxBytes when the body is longer
// than [Options].MaxBytes: at once when Content-Length announces it,
// otherwise after reading one byte past the cap.
//
// Messages never repeat the body's values; an issue's path names the key
// at fault. Each error keeps the decoder's error as
// its cause, for the log line. v is only written once every check on the
// bytes has passed, so a refused body leaves v as it was, except for a type
// error or an unknown field, found while decoding.
//
// encoding/json matches object keys to struct fields case-insensitively;
// keys that differ only in case are not refused (`{"name":1,"NAME":2}`
// fills one field twice), so give fields distinct names beyond case.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

// DefaultMaxBytes is the body cap of the zero [Options]: 1 MiB.
const DefaultMaxBytes = 1 << 20

// DefaultMaxDepth is the nesting limit of the zero [Options]: 512 levels of
// arrays and objects, far beyond any real request and small enough that the
// check's own stack stays a few KiB.
const DefaultMaxDepth = 512

// maxMaxDepth is encoding/json's own nesting limit: Unmarshal refuses a
// deeper value whatever MaxDepth says.
const maxMaxDepth = 10000

// Options configure [Decode]. The zero value is the strict default.
type Options struct {
	// MaxBytes caps the body. Zero means [DefaultMaxBytes]; negative is a
	// programming mistake, answered INTERNAL.
	MaxBytes int64
	// DisallowUnknownFields refuses an object key that matches no field of
	// the struct decoded into.
	DisallowUnknownFields bool
	// AllowEmpty accepts an empty (or all-whitespace) body and leaves v as
	// it is, for routes where every field is optional. Content-Type is not
	// checked when Content-Length is 0.
	AllowEmpty bool
	// MaxDepth caps how deep arrays and objects nest: `[[1]]` is 2 levels,
	// a scalar 0. A deeper body is VALIDATION on path "body". Zero means
	// [DefaultMaxDepth]; negative or above 10000 (encoding/json's own
	// limit) is a programming mistake, answered INTERNAL.
	MaxDepth int
}

// Issue paths and messages.
const (
	pathContentType = "header:Content-Type"
	pathBody        = "body"

	msgContentType    = "Unsupported Content-Type; send application/json."
	msgNoContentType  = "Content-Type is required; send application/json."
	msgCharset        = "The only charset accepted is utf-8."
	msgContentTypeArg = "Unsupported Content-Type parameter; only charset=utf-8 is accepted."
	msgEmpty          = "The body is empty; send a JSON value."
	msgUnreadable     = "The body could not be read."
)

// Decode decodes r's body, a single JSON value, into v, with the checks of
// the package documentation. It returns nil or an *apierror.Error
// (VALIDATION or PAYLOAD_TOO_LARGE; INTERNAL only for an out-of-range
// MaxBytes or MaxDepth or a v encoding/json cannot decode into). It reads
// at most MaxBytes+1 bytes and does not close the body (net/http does).
func Decode(r *http.Request, v any, opts Options) error {
	max := opts.MaxBytes
	switch {
	case max < 0:
		return apierror.Internal(fmt.Errorf("jsonbody: Options.MaxBytes is negative (%d)", max))
	case max == 0:
		max = DefaultMaxBytes
	}
	depth := opts.MaxDepth
	switch {
	case depth < 0 || depth > maxMaxDepth:
		return apierror.Internal(fmt.Errorf("jsonbody: Options.MaxDepth is %d, outside 0..%d", depth, maxMaxDepth))
	case depth == 0:
		depth = DefaultMaxDepth
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return empty(opts)
	}
	if e := checkContentType(r.Header.Values("Content-Type")); e != nil {
		return e
	}
	if r.ContentLength > max {
		return apierror.PayloadTooLarge(max)
	}
	body, err := read(r.Body, max)
	if err != nil {
		return err
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return empty(opts)
	}
	if e := check(body, depth); e != nil {
		return e
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if opts.DisallowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var inv *json.InvalidUnmarshalError
		if errors.As(err, &inv) {
			return apierror.Internal(fmt.Errorf("jsonbody: %w", err))
		}
		return httperror.FromDecodeError(err)
	}
	return nil
}

func empty(opts Options) error {
	if opts.AllowEmpty {
		return nil
	}
	return apierror.Validation(apierror.Issue{Path: pathBody, Message: msgEmpty})
}

// read returns the body, or PAYLOAD_TOO_LARGE past max, or VALIDATION when
// the client's body cannot be read (a read timeout, a connection gone, a
// broken chunked encoding: the client's doing, not a server fault). It
// grows its buffer as bytes arrive rather than trusting Content-Length, so a
// client pays in bytes sent for the memory it holds.
func read(body io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apierror.PayloadTooLarge(mbe.Limit) // an outer, smaller limit
		}
		return nil, apierror.Validation(apierror.Issue{Path: pathBody, Message: msgUnreadable}).WithCause(err)
	}
	if int64(len(b)) > max {
		return nil, apierror.PayloadTooLarge(max)
	}
	return b, nil
}

// checkContentType accepts exactly one Content-Type, application/json or
// a +json type, with no parameter but charset=utf-8.
func checkContentType(values []string) *apierror.Error {
	issue := func(msg string) *apierror.Error {
		return apierror.Validation(apierror.Issue{Path: pathContentType, Message: msg})
	}
	switch {
	case len(values) == 0 || (len(values) == 1 && strings.TrimSpace(values[0]) == ""):
		return issue(msgNoContentType)
	case len(values) > 1:
		return issue(msgContentType)
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil {
		return issue(msgContentType)
	}
	typ, sub, _ := strings.Cut(mt, "/") // ParseMediaType lowercases
	if typ != "application" || (sub != "json" && !(strings.HasSuffix(sub, "+json") && len(sub) > len("+json"))) {
		return issue(msgContentType)
	}
	for k, v := range params {
		if k != "charset" {
			return issue(msgContentTypeArg)
		}
		if !strings.EqualFold(v, "utf-8") {
			return issue(msgCharset)
		}
	}
	return nil
}

// check validates the bytes before anything is decoded into the caller's
// value: UTF-8, one well-formed JSON value nesting at most maxDepth levels
// and nothing after it, no duplicated key, no lone surrogate escape.
func check(body []byte, maxDepth int) *apierror.Error {
	if !utf8.Valid(body) {
		return bodyIssue(fmt.Sprintf("The body is not valid UTF-8 (invalid byte at offset %d).", invalidUTF8(body)))
	}
	end, dup, err := walk(body, maxDepth)
	if errors.Is(err, errTooDeep) {
		return bodyIssue(fmt.Sprintf("The body nests deeper than %d levels.", maxDepth)).WithCause(err)
	}
	if err != nil {
		return httperror.FromDecodeError(err)
	}
	if dup != "" {
		return apierror.Validation(apierror.Issue{Path: dup, Message: "appears more than once in its object."})
	}
	rest := bytes.TrimLeft(body[end:], " \t\r\n")
	if len(rest) > 0 {
		off := len(body) - len(rest)
		return bodyIssue(fmt.Sprintf("The body has data after the JSON value (at byte offset %d).", off))
	}
	if off := loneSurrogate(body[:end]); off >= 0 {
		return bodyIssue(fmt.Sprintf("The body escapes half a UTF-16 surrogate pair (at byte offset %d).", off))
	}
	return nil
}

func bodyIssue(msg string) *apierror.Error {
	return apierror.Validation(apierror.Issue{Path: pathBody, Message: msg})
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// frame is an open object or array of the walk.
type frame struct {
	object  bool
	keys    map[string]struct{} // object: the keys seen
	key     string              // object: the key of the current value
	haveKey bool                // object: key is read, its value is next
	n       int                 // array: the number of elements begun
}

// maxDupPath bounds the path a duplicate-key issue names.
const maxDupPath = 200

// errTooDeep is walk's answer to a value nesting deeper than its limit.
var errTooDeep = errors.New("jsonbody: nesting too deep")

// walk reads the first JSON value of body token by token. It returns the
// offset where the value ends, the path of the first key repeated within
// one object (or ""), errTooDeep when arrays and objects nest deeper than
// maxDepth, or the decoder's error (a *json.SyntaxError with its offset, or
// io.ErrUnexpectedEOF).
//
// The depth is checked before a frame is pushed, and Token pushes its own
// state only when it returns a delimiter, so neither stack grows past
// maxDepth+1 entries whatever the body holds.
func walk(body []byte, maxDepth int) (end int, dup string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // no float conversion of numbers we only skip
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, "", err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return int(dec.InputOffset()), "", nil
			}
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && !top.haveKey: // Token alternates keys and values
				k, _ := tok.(string)
				if _, seen := top.keys[k]; seen {
					return 0, joinKey(pathOf(stack[:len(stack)-1]), k), nil
				}
				if top.keys == nil {
					top.keys = make(map[string]struct{}, 8)
				}
				top.keys[k] = struct{}{}
				top.key, top.haveKey = k, true
				continue
			case top.object:
				top.haveKey = false
			default:
				top.n++
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return 0, "", errTooDeep
			}
			stack = append(stack, frame{object: tok == json.Delim('{')})
		default:
			if len(stack) == 0 {
				return int(dec.InputOffset()), "", nil // a scalar at the top
			}
		}
	}
}

// pathOf is the path of the value the innermost frame of stack holds, as
// "items[0].name": built only to report a duplicate.
func pathOf(stack []frame) string {
	var path string
	for _, f := range stack {
		if len(path) > maxDupPath {
			return path + "[…]"
		}
		if f.object {
			path = joinKey(path, f.key)
		} else {
			path += "[" + strconv.Itoa(f.n-1) + "]"
		}
	}
	return path
}

// joinKey appends an object key to a path, as "a.b"; a key that is not a
// plain name (or a path grown too long) is written as ["key"] in JSON
// string syntax, so the path stays unambiguous and printable.
func joinKey(path, key string) string {
	if len(path)+len(key) > maxDupPath {
		return path + "[…]"
	}
	plain := key != ""
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	if !plain {
		q, _ := json.Marshal(key)
		return path + "[" + string(q) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// loneSurrogate returns the offset of the first \u escape in a string of b
// (valid JSON) that encodes half a surrogate pair without its other half,
// or -1.
func loneSurrogate(b []byte) int {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r := hex4(b, i+2)
				switch {
				case r >= 0xD800 && r <= 0xDBFF:
					// A high half must be followed by \u and a low half.
					if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						if lo := hex4(b, i+8); lo >= 0xDC00 && lo <= 0xDFFF {
							i += 11
							continue
						}
					}
					return i
				case r >= 0xDC00 && r <= 0xDFFF:
					return i
				}
				i += 5
				continue
			}
			i++ // skip the escaped character
		}
	}
	return -1
}

// hex4 decodes the four hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) int {
	if i+4 > len(b) {
		return -1
	}
	n := 0
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}
