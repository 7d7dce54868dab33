package main

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/parameters"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	lowv3 "github.com/pb33f/libopenapi/datamodel/low/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/conformance"
	"github.com/layershq/errkit/internal/conformancehttp"
	"github.com/layershq/errkit/jobs"
	"github.com/layershq/errkit/requestid"
)

// spec is docs/openapi.yaml loaded by libopenapi, with its OpenAPI 3.1
// model.
type spec struct {
	doc   libopenapi.Document
	model *v3.Document
}

// loadSpec builds the OpenAPI document the generator writes.
func loadSpec(t *testing.T) spec {
	t.Helper()
	raw, err := OpenAPI()
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	m, err := doc.BuildV3Model()
	require.NoError(t, err)
	require.NotNil(t, m)
	return spec{doc: doc, model: &m.Model}
}

// schema returns components.schemas[name].
func (s spec) schema(t *testing.T, name string) *base.Schema {
	t.Helper()
	p, ok := s.model.Components.Schemas.Get(name)
	require.True(t, ok, "components.schemas.%s", name)
	sc, err := p.BuildSchema()
	require.NoError(t, err, name)
	return sc
}

// response returns components.responses[code].
func (s spec) response(t *testing.T, code apierror.Code) *v3.Response {
	t.Helper()
	r, ok := s.model.Components.Responses.Get(string(code))
	require.True(t, ok, "components.responses.%s", code)
	return r
}

// bodySchema is the application/json schema of the response of code.
func (s spec) bodySchema(t *testing.T, code apierror.Code) *base.Schema {
	t.Helper()
	mt, ok := s.response(t, code).Content.Get("application/json")
	require.True(t, ok, "%s has an application/json body", code)
	sc, err := mt.Schema.BuildSchema()
	require.NoError(t, err)
	return sc
}

// validate checks payload against sc with libopenapi-validator's schema
// validator (OpenAPI 3.1: JSON Schema 2020-12), returning the failures.
func validate(sc *base.Schema, payload []byte) []string {
	ok, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(sc, payload)
	if ok {
		return nil
	}
	out := []string{}
	for _, e := range errs {
		msg := e.Message + ": " + e.Reason
		for _, f := range e.SchemaValidationErrors {
			msg += "; " + f.Reason + " at " + f.KeywordLocation
		}
		out = append(out, msg)
	}
	if len(out) == 0 {
		out = append(out, "invalid")
	}
	return out
}

// TestOpenAPIDocumentValidates: docs/openapi.yaml is a valid OpenAPI 3.1
// document, checked against the specification's own schema by
// libopenapi-validator, with every reference resolving.
func TestOpenAPIDocumentValidates(t *testing.T) {
	s := loadSpec(t)
	assert.Equal(t, "3.1.1", s.model.Version)
	v, errs := validator.NewValidator(s.doc)
	require.Empty(t, errs)
	ok, verrs := v.ValidateDocument()
	for _, e := range verrs {
		t.Errorf("%s: %s (line %d)", e.Message, e.Reason, e.SpecLine)
		for _, f := range e.SchemaValidationErrors {
			t.Errorf("  %s at %s", f.Reason, f.KeywordLocation)
		}
	}
	assert.True(t, ok, "the document validates against the OpenAPI 3.1 schema")

	m, err := s.doc.BuildV3Model()
	require.NoError(t, err)
	for _, e := range m.Index.GetReferenceIndexErrors() {
		t.Errorf("unresolved reference: %v", e)
	}
	assert.Empty(t, m.Index.GetCircularReferences(), "no circular references")
	assert.Equal(t, 23, s.model.Components.Responses.Len(), "one response per code")
}

// TestOpenAPIResponsesHaveTheirHeaders pins the headers of each response:
// the three every error carries, and Retry-After, RateLimit and
// RateLimit-Policy where they come with the code.
func TestOpenAPIResponsesHaveTheirHeaders(t *testing.T) {
	s := loadSpec(t)
	type want struct {
		name     string
		required bool
	}
	extra := map[apierror.Code][]want{
		apierror.CodeRateLimited:   {{"Retry-After", true}, {"RateLimit", false}, {"RateLimit-Policy", false}},
		apierror.CodeCircuitOpen:   {{"Retry-After", true}},
		apierror.CodePlatformError: {{"Retry-After", false}},
		apierror.CodeKillSwitch:    {{"Retry-After", false}},
		apierror.CodeConflict:      {{"Retry-After", false}},
		apierror.CodeNotFound:      {{"Allow", false}},
	}
	for _, sp := range apierror.Catalogue() {
		t.Run(string(sp.Code), func(t *testing.T) {
			r := s.response(t, sp.Code)
			assert.Contains(t, r.Description, strconv.Itoa(sp.Status), "the status is in the description")
			wants := append([]want{{requestid.Header, true}, {"Cache-Control", true}, {"X-Content-Type-Options", true}}, extra[sp.Code]...)
			var names []string
			for name := range r.Headers.KeysFromOldest() {
				names = append(names, name)
			}
			var wantNames []string
			for _, w := range wants {
				wantNames = append(wantNames, w.name)
				h, ok := r.Headers.Get(w.name)
				if assert.True(t, ok, w.name) {
					assert.Equal(t, w.required, h.Required, "%s required", w.name)
					assert.NotNil(t, h.Schema, "%s has a schema", w.name)
				}
			}
			assert.Equal(t, wantNames, names)
		})
	}
}

// TestOpenAPIExamples: every code's example (apierror.Example rendered under
// the fixed request ID, as the conformance suite answers it) is the
// response's example and validates against the response's schema; the
// schemas refuse what the contract rules out.
func TestOpenAPIExamples(t *testing.T) {
	s := loadSpec(t)
	generic := s.schema(t, "Envelope")
	for _, sp := range apierror.Catalogue() {
		t.Run(string(sp.Code), func(t *testing.T) {
			e, ok := apierror.Example(sp.Code)
			require.True(t, ok)
			body := e.Render(exampleRequestID)
			assert.Empty(t, validate(s.bodySchema(t, sp.Code), body))
			assert.Empty(t, validate(generic, body), "the generic envelope")
			fresh := e.Render(requestid.New())
			assert.Empty(t, validate(s.bodySchema(t, sp.Code), fresh), "any well-formed request ID")

			mt, _ := s.response(t, sp.Code).Content.Get("application/json")
			require.NotNil(t, mt.Example)
			var ex any
			require.NoError(t, mt.Example.Decode(&ex))
			exJSON, err := json.Marshal(ex)
			require.NoError(t, err)
			assert.JSONEq(t, string(body), string(exJSON), "the example is the rendered example")

			other := apierror.Unauthenticated().Render(exampleRequestID)
			if sp.Code != apierror.CodeUnauthenticated {
				assert.NotEmpty(t, validate(s.bodySchema(t, sp.Code), other), "another code's envelope")
			}
		})
	}

	for _, tc := range []struct {
		name string
		code apierror.Code
		body string
	}{
		{"missing details", apierror.CodeRateLimited, `{"error":{"code":"RATE_LIMITED","message":"m","requestId":"` + exampleRequestID + `"}}`},
		{"wrong details type", apierror.CodeRateLimited, `{"error":{"code":"RATE_LIMITED","message":"m","requestId":"` + exampleRequestID + `","details":{"retryAfterMs":"1500"}}}`},
		{"zero wait", apierror.CodeRateLimited, `{"error":{"code":"RATE_LIMITED","message":"m","requestId":"` + exampleRequestID + `","details":{"retryAfterMs":0}}}`},
		{"scope outside the enum", apierror.CodeKillSwitch, `{"error":{"code":"KILL_SWITCH","message":"m","requestId":"` + exampleRequestID + `","details":{"scope":"planet"}}}`},
		{"approved container", apierror.CodeApprovalRequired, `{"error":{"code":"APPROVAL_REQUIRED","message":"m","requestId":"` + exampleRequestID + `","details":{"containerId":"c","approvalStatus":"approved"}}}`},
		{"platform outside the enum", apierror.CodePlatformError, `{"error":{"code":"PLATFORM_ERROR","message":"m","requestId":"` + exampleRequestID + `","details":{"platform":"myspace","platformCode":"c","platformMessage":"m","retryAfterMs":null}}}`},
		{"retryAfterMs missing", apierror.CodePlatformError, `{"error":{"code":"PLATFORM_ERROR","message":"m","requestId":"` + exampleRequestID + `","details":{"platform":"tiktok","platformCode":"c","platformMessage":"m"}}}`},
		{"billing reason outside the enum", apierror.CodeBillingExhausted, `{"error":{"code":"BILLING_EXHAUSTED","message":"m","requestId":"` + exampleRequestID + `","details":{"reason":"broke"}}}`},
		{"INTERNAL with details", apierror.CodeInternal, `{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"` + exampleRequestID + `","details":{"cause":"x"}}}`},
		{"INTERNAL with a cause as message", apierror.CodeInternal, `{"error":{"code":"INTERNAL","message":"dial tcp: refused","requestId":"` + exampleRequestID + `"}}`},
		{"a leaked field", apierror.CodeNotFound, `{"error":{"code":"NOT_FOUND","message":"m","requestId":"` + exampleRequestID + `","cause":"x"}}`},
		{"malformed request ID", apierror.CodeNotFound, `{"error":{"code":"NOT_FOUND","message":"m","requestId":"req_1"}}`},
		{"no request ID", apierror.CodeNotFound, `{"error":{"code":"NOT_FOUND","message":"m"}}`},
		{"a field beside error", apierror.CodeNotFound, `{"error":{"code":"NOT_FOUND","message":"m","requestId":"` + exampleRequestID + `"},"x":1}`},
		{"issues without a path", apierror.CodeValidation, `{"error":{"code":"VALIDATION","message":"m","requestId":"` + exampleRequestID + `","details":{"issues":[{"message":"m"}]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.NotEmpty(t, validate(s.bodySchema(t, tc.code), []byte(tc.body)), "the code's schema refuses it")
			assert.NotEmpty(t, validate(generic, []byte(tc.body)), "the generic envelope refuses it")
		})
	}

	for name, body := range map[string]string{
		"allocate's BILLING_EXHAUSTED":          string(apierror.BillingExhaustedAllocate().Render(exampleRequestID)),
		"MODERATION_BLOCKED without details":    string(apierror.ModerationBlocked("").Render(exampleRequestID)),
		"CONFLICT naming the blocking project":  string(apierror.ConflictBlockedBy("migration_blocked", "prj_1").Render(exampleRequestID)),
		"RETURN_URL_NOT_ALLOWED without a host": string(apierror.ReturnURLNotAllowed("not a url").Render(exampleRequestID)),
		"VALIDATION with a code":                string(apierror.ValidationWithCode(apierror.RefillRequiresThresholdAndAmount).Render(exampleRequestID)),
		"details that grew a field":             `{"error":{"code":"KILL_SWITCH","message":"m","requestId":"` + exampleRequestID + `","details":{"scope":"key","since":"x"}}}`,
		"a code added after this version":       `{"error":{"code":"NEW_CODE","message":"m","requestId":"` + exampleRequestID + `","details":{"x":1}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			assert.Empty(t, validate(generic, []byte(body)))
		})
	}
}

// TestOpenAPIJobError validates what package jobs really writes against
// JobError and Job: a failure of every code at a stage, and the job bodies
// of every state.
func TestOpenAPIJobError(t *testing.T) {
	s := loadSpec(t)
	jobErr := s.schema(t, "JobError")
	job := s.schema(t, "Job")
	at := time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC)
	for _, sp := range apierror.Catalogue() {
		t.Run(string(sp.Code), func(t *testing.T) {
			e, _ := apierror.Example(sp.Code)
			f, err := json.Marshal(jobs.Fail(e, "finalizing"))
			require.NoError(t, err)
			assert.Empty(t, validate(jobErr, f), "%s", f)
			j, err := json.Marshal(jobs.Failed(at, e, "finalizing"))
			require.NoError(t, err)
			assert.Empty(t, validate(job, j), "%s", j)
		})
	}
	for name, err := range map[string]error{
		"a plain error (INTERNAL)":           io.ErrUnexpectedEOF,
		"allocate's BILLING_EXHAUSTED":       apierror.BillingExhaustedAllocate(),
		"MODERATION_BLOCKED without details": apierror.ModerationBlocked(""),
	} {
		f, merr := json.Marshal(jobs.Fail(err, "queued_upload"))
		require.NoError(t, merr)
		assert.Empty(t, validate(jobErr, f), "%s: %s", name, f)
	}
	for _, j := range []jobs.Job{jobs.Queued(), jobs.Running(), jobs.Succeeded(at, json.RawMessage(`{"id":"cnt_1"}`)), jobs.Succeeded(at, nil)} {
		b, err := json.Marshal(j)
		require.NoError(t, err)
		assert.Empty(t, validate(job, b), "%s", b)
	}

	for name, body := range map[string]string{
		"a requestId":              `{"code":"NOT_FOUND","message":"m","requestId":"` + exampleRequestID + `","data":{"stage":"s"}}`,
		"details instead of data":  `{"code":"NOT_FOUND","message":"m","details":{"stage":"s"}}`,
		"no stage":                 `{"code":"NOT_FOUND","message":"m","data":{}}`,
		"a code's details broken":  `{"code":"KILL_SWITCH","message":"m","data":{"stage":"s","scope":"planet"}}`,
		"guaranteed field missing": `{"code":"RATE_LIMITED","message":"m","data":{"stage":"s"}}`,
		"INTERNAL with details":    `{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","data":{"stage":"s","cause":"x"}}`,
		"half a billing details":   `{"code":"BILLING_EXHAUSTED","message":"m","data":{"stage":"s","reason":"broke"}}`,
	} {
		assert.NotEmpty(t, validate(jobErr, []byte(body)), name)
	}
	for name, body := range map[string]string{
		"failed without error":    `{"status":"failed","finishedAt":"2026-04-18T14:22:10Z"}`,
		"running with finishedAt": `{"status":"running","finishedAt":"2026-04-18T14:22:10Z"}`,
		"succeeded with an error": `{"status":"succeeded","finishedAt":"2026-04-18T14:22:10Z","error":{"code":"NOT_FOUND","message":"m","data":{"stage":"s"}}}`,
		"an unknown status":       `{"status":"paused"}`,
	} {
		assert.NotEmpty(t, validate(job, []byte(body)), name)
	}
}

// exchange is one request of the conformance suite and its response.
type exchange struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

// recorder keeps every exchange a server answers.
type recorder struct {
	mu  sync.Mutex
	all []exchange
}

// recordingWriter snapshots the header when it is written, as it went on
// the wire, and copies the body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		req := &http.Request{Method: r.Method, URL: &url.URL{Path: r.URL.Path}, Header: r.Header.Clone()}
		rec.mu.Lock()
		rec.all = append(rec.all, exchange{req: req, status: rw.status, header: rw.header, body: bytes.Clone(rw.body.Bytes())})
		rec.mu.Unlock()
	})
}

// newConformanceServer is nethttp's conformance server, every exchange
// recorded.
func newConformanceServer(rec *recorder) conformance.NewServer {
	return func(t *testing.T, f *conformance.Fixtures) http.Handler {
		return rec.wrap(conformancehttp.NewServer(t, f))
	}
}

// codeOf is the code an error response answers with: the body's, or for a
// HEAD (no body) the one the path or the status names.
func codeOf(t *testing.T, x exchange) apierror.Code {
	t.Helper()
	if len(x.body) > 0 {
		var env apierror.Envelope
		require.NoError(t, json.Unmarshal(x.body, &env), "%s %s: %s", x.req.Method, x.req.URL.Path, x.body)
		return env.Error.Code
	}
	if c, ok := strings.CutPrefix(x.req.URL.Path, "/codes/"); ok && apierror.Code(c).Known() {
		return apierror.Code(c)
	}
	var match []apierror.Code
	for _, s := range apierror.Catalogue() {
		if s.Status == x.status {
			match = append(match, s.Code)
		}
	}
	require.Len(t, match, 1, "%s %s: a bodiless %d names one code", x.req.Method, x.req.URL.Path, x.status)
	return match[0]
}

// TestOpenAPIConformanceResponses runs the conformance suite on net/http and
// validates every error response it produces — every code's example, router
// 404 and 405, INTERNAL and panics, the body limit, RATE_LIMITED from the
// limiter, KILL_SWITCH per scope, idempotency conflicts — against its code's
// response in docs/openapi.yaml: the status, the body against the schema,
// the required headers present and every declared header's value against
// its schema.
func TestOpenAPIConformanceResponses(t *testing.T) {
	rec := &recorder{}
	t.Run("suite", func(t *testing.T) { conformance.Run(t, newConformanceServer(rec)) })

	s := loadSpec(t)
	opts := config.NewValidationOptions()
	seen := map[apierror.Code]bool{}
	checked := 0
	rec.mu.Lock()
	all := rec.all
	rec.mu.Unlock()
	shapes := map[string]bool{}
	for _, x := range all {
		if x.status < 400 {
			continue
		}
		// Responses that differ only in their request ID (the suite's
		// thousands of unknown paths) are one response to the schema:
		// validate each shape once.
		id := x.header.Get(requestid.Header)
		shape := x.req.Method + " " + strconv.Itoa(x.status) + " " + strings.Join(slices.Sorted(maps.Keys(x.header)), ",") +
			" " + strings.ReplaceAll(string(x.body), id, "")
		if shapes[shape] {
			continue
		}
		shapes[shape] = true
		code := codeOf(t, x)
		seen[code] = true
		checked++
		name := x.req.Method + " " + x.req.URL.Path + " " + string(code)
		assert.Equal(t, code.Status(), x.status, name)
		r := s.response(t, code)
		if _, ok := r.Content.Get(x.header.Get("Content-Type")); !ok {
			t.Errorf("%s: Content-Type %q is not the response's", name, x.header.Get("Content-Type"))
		}
		if len(x.body) > 0 {
			assert.Empty(t, validate(s.bodySchema(t, code), x.body), "%s: %s", name, x.body)
		} else {
			assert.Equal(t, http.MethodHead, x.req.Method, "%s: only HEAD has no body", name)
		}
		resp := &http.Response{StatusCode: x.status, Header: x.header}
		ok, errs := responses.ValidateResponseHeaders(x.req, resp, r.Headers, x.req.URL.Path, strconv.Itoa(x.status))
		for _, e := range errs {
			t.Errorf("%s: %s: %s", name, e.Message, e.Reason)
		}
		assert.True(t, ok, name)
		if x.header.Get("Retry-After") != "" {
			_, declared := r.Headers.Get("Retry-After")
			assert.True(t, declared, "%s: Retry-After came with a code whose response does not declare it", name)
		}
		// ValidateResponseHeaders checks the values of required headers
		// only; check the optional ones that are there too.
		for hname, h := range r.Headers.FromOldest() {
			if h.Required || x.header.Get(hname) == "" {
				continue
			}
			sc, err := h.Schema.BuildSchema()
			require.NoError(t, err)
			for _, v := range x.header.Values(hname) {
				for _, e := range parameters.ValidateParameterSchema(sc, nil, v, "header", "response header", hname,
					helpers.ResponseBodyValidation, lowv3.HeadersLabel, opts) {
					t.Errorf("%s: header %s %q: %s: %s", name, hname, v, e.Message, e.Reason)
				}
			}
		}
	}
	for _, sp := range apierror.Catalogue() {
		assert.True(t, seen[sp.Code], "the suite produced %s", sp.Code)
	}
	t.Logf("validated %d error responses of %d exchanges", checked, len(all))
	assert.Greater(t, checked, 2*23, "every code over GET and HEAD, and the rest")
}
