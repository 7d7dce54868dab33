package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jobs"
	"github.com/layershq/errkit/requestid"
)

// compileSchema compiles a generated JSON Schema file with a 2020-12
// validator, which first checks the schema against the 2020-12 meta-schema.
func compileSchema(t *testing.T, name string, raw []byte) *jsonschema.Schema {
	t.Helper()
	sch, err := compileRaw(name, raw)
	require.NoError(t, err, name)
	return sch
}

func compileRaw(name string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		return nil, err
	}
	return c.Compile(name)
}

// check validates the JSON instance raw, returning the validator's error.
func check(sch *jsonschema.Schema, raw []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func envelopeSchema(t *testing.T) *jsonschema.Schema {
	raw, err := EnvelopeSchema()
	require.NoError(t, err)
	return compileSchema(t, "envelope.schema.json", raw)
}

func jobErrorSchema(t *testing.T) *jsonschema.Schema {
	raw, err := JobErrorSchema()
	require.NoError(t, err)
	return compileSchema(t, "job-error.schema.json", raw)
}

// TestJSONSchemaFilesAre2020_12: both files declare the 2020-12 dialect and
// compile against its meta-schema, which really is checked: a schema with a
// type that does not exist fails to compile.
func TestJSONSchemaFilesAre2020_12(t *testing.T) {
	for name, build := range map[string]func() ([]byte, error){
		"envelope.schema.json": EnvelopeSchema, "job-error.schema.json": JobErrorSchema,
	} {
		raw, err := build()
		require.NoError(t, err)
		var top struct {
			Schema string `json:"$schema"`
			Ref    string `json:"$ref"`
		}
		require.NoError(t, json.Unmarshal(raw, &top))
		assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", top.Schema, name)
		assert.True(t, strings.HasPrefix(top.Ref, "#/$defs/"), name)
		compileSchema(t, name, raw)

		broken := bytes.Replace(raw, []byte(`"type": "object"`), []byte(`"type": "objekt"`), 1)
		require.NotEqual(t, raw, broken)
		_, err = compileRaw("broken-"+name, broken)
		assert.Error(t, err, "the meta-schema refuses an unknown type")
	}
}

// TestJSONSchemaMatchesOpenAPI: the JSON Schema files and docs/openapi.yaml
// share one set of definitions, only the reference prefix differs.
func TestJSONSchemaMatchesOpenAPI(t *testing.T) {
	s := loadSpec(t)
	specJSON := *s.doc.GetSpecInfo().SpecJSON
	components := specJSON["components"].(map[string]any)
	want, err := json.Marshal(components["schemas"])
	require.NoError(t, err)
	for _, build := range []func() ([]byte, error){EnvelopeSchema, JobErrorSchema} {
		raw, err := build()
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		defs, err := json.Marshal(doc["$defs"])
		require.NoError(t, err)
		got := strings.ReplaceAll(string(defs), `"#/$defs/`, `"#/components/schemas/`)
		assert.JSONEq(t, string(want), got)
	}
}

// TestEnvelopeSchema validates the envelope of every code, as the error
// writer renders it, and refuses what the contract rules out.
func TestEnvelopeSchema(t *testing.T) {
	sch := envelopeSchema(t)
	for _, sp := range apierror.Catalogue() {
		e, ok := apierror.Example(sp.Code)
		require.True(t, ok)
		for _, id := range []string{exampleRequestID, requestid.New()} {
			body := e.Render(id)
			assert.NoError(t, check(sch, body), "%s", body)
		}
	}
	for _, e := range []*apierror.Error{
		apierror.BillingExhaustedAllocate(),
		apierror.ModerationBlocked(""),
		apierror.ConflictBlockedBy("migration_blocked", "prj_1"),
		apierror.ReturnURLNotAllowed("::not a url"),
		apierror.ValidationWithCode(apierror.RefillRequiresThresholdAndAmount, apierror.Issue{Path: "refillAmount", Message: "set both"}),
		apierror.Validation(),
		apierror.PlatformError(apierror.PlatformAppStore, "5xx", "<html>&</html>", time.Millisecond),
		apierror.KillSwitch(apierror.ScopeKey),
		apierror.From(errors.New("secret")),
	} {
		body := e.Render(requestid.New())
		assert.NoError(t, check(sch, body), "%s", body)
	}

	id := exampleRequestID
	for name, body := range map[string]string{
		"not an envelope":             `{"code":"NOT_FOUND"}`,
		"no message":                  `{"error":{"code":"NOT_FOUND","requestId":"` + id + `"}}`,
		"malformed code":              `{"error":{"code":"not_found","message":"m","requestId":"` + id + `"}}`,
		"malformed request ID":        `{"error":{"code":"NOT_FOUND","message":"m","requestId":"req_01hxz9g7kmv2qx8y1s5rjw3b7t"}}`,
		"request ID out of range":     `{"error":{"code":"NOT_FOUND","message":"m","requestId":"req_81HXZ9G7KMV2QX8Y1S5RJW3B7T"}}`,
		"a leaked cause":              `{"error":{"code":"NOT_FOUND","message":"m","requestId":"` + id + `","cause":"dial tcp"}}`,
		"INTERNAL with details":       `{"error":{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","requestId":"` + id + `","details":{}}}`,
		"INTERNAL's message replaced": `{"error":{"code":"INTERNAL","message":"pq: password authentication failed","requestId":"` + id + `"}}`,
		"guaranteed field missing":    `{"error":{"code":"UPLOAD_QUOTA_EXCEEDED","message":"m","requestId":"` + id + `","details":{"currentUploads":1,"maxUploads":1,"currentBytes":1}}}`,
		"retryAfterMs not an integer": `{"error":{"code":"RATE_LIMITED","message":"m","requestId":"` + id + `","details":{"retryAfterMs":1.5}}}`,
		"null where not nullable":     `{"error":{"code":"RATE_LIMITED","message":"m","requestId":"` + id + `","details":{"retryAfterMs":null}}}`,
		"scope outside the enum":      `{"error":{"code":"KILL_SWITCH","message":"m","requestId":"` + id + `","details":{"scope":"planet"}}}`,
		"half a billing details":      `{"error":{"code":"BILLING_EXHAUSTED","message":"m","requestId":"` + id + `","details":{"reason":"broke"}}}`,
		"credential platform unknown": `{"error":{"code":"CREDENTIAL_INVALID","message":"m","requestId":"` + id + `","details":{"platform":"x","socialAccountId":"s"}}}`,
	} {
		assert.Error(t, check(sch, []byte(body)), name)
	}
}

// TestJobErrorSchema validates what package jobs writes for a failure of
// every code, and refuses the HTTP envelope's fields.
func TestJobErrorSchema(t *testing.T) {
	sch := jobErrorSchema(t)
	for _, sp := range apierror.Catalogue() {
		e, _ := apierror.Example(sp.Code)
		for _, stage := range []string{"finalizing", "upload"} {
			f, err := json.Marshal(jobs.Fail(e, stage))
			require.NoError(t, err)
			assert.NoError(t, check(sch, f), "%s", f)
		}
	}
	page, err := newPageExamples()
	require.NoError(t, err)
	var job struct {
		Error json.RawMessage `json:"error"`
	}
	require.NoError(t, json.Unmarshal(page.JobExample, &job))
	assert.NoError(t, check(sch, job.Error), "the page's job example")

	for name, body := range map[string]string{
		"a requestId":                     `{"code":"NOT_FOUND","message":"m","requestId":"` + exampleRequestID + `","data":{"stage":"s"}}`,
		"details, not data":               `{"code":"NOT_FOUND","message":"m","details":{"stage":"s"}}`,
		"no data":                         `{"code":"NOT_FOUND","message":"m"}`,
		"an empty stage":                  `{"code":"NOT_FOUND","message":"m","data":{"stage":""}}`,
		"a stage that is not a string":    `{"code":"NOT_FOUND","message":"m","data":{"stage":3}}`,
		"the code's details broken":       `{"code":"CIRCUIT_OPEN","message":"m","data":{"stage":"s","resource":"r"}}`,
		"INTERNAL with more than a stage": `{"code":"INTERNAL","message":"` + apierror.InternalMessage + `","data":{"stage":"s","cause":"x"}}`,
	} {
		assert.Error(t, check(sch, []byte(body)), name)
	}
}
