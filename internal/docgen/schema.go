package main

import (
	"strconv"
	"strings"

	"github.com/layershq/errkit/apierror"
)

// The schema definitions shared by docs/openapi.yaml (under
// components.schemas) and the JSON Schema files (under $defs), built from
// apierror's catalogue and details schemas. A ref function turns a
// definition name into a reference for the document it lands in.

// exampleRequestID is the request ID of every generated example: the one
// the contract page shows.
const exampleRequestID = "req_01HXZ9G7KMV2QX8Y1S5RJW3B7T"

// requestIDPattern is what requestid.Valid accepts: "req_" and 26 uppercase
// Crockford base32 characters, the first 0-7 (a 128-bit value).
const requestIDPattern = `^req_[0-7][0-9A-HJKMNP-TV-Z]{25}$`

// codePattern is what apierror.ValidCode accepts (with maxLength 64): the
// form of every code, including codes added after this version.
const codePattern = `^[A-Z][A-Z0-9_]*$`

// typeName turns a code into the stem of its definitions' names:
// RATE_LIMITED -> RateLimited.
func typeName(c apierror.Code) string {
	var b strings.Builder
	for _, w := range strings.Split(string(c), "_") {
		if w == "" {
			continue
		}
		b.WriteString(w[:1])
		b.WriteString(strings.ToLower(w[1:]))
	}
	return b.String()
}

// refTo builds {"$ref": ref(name)}.
func refTo(ref func(string) string, name string) *obj { return o("$ref", ref(name)) }

// definitions returns every shared definition, in a stable order: the
// generic envelope and error, the job error, then per code its details,
// error and envelope.
func definitions(ref func(string) string) *obj {
	specs := apierror.Catalogue()
	defs := o()

	codes := make([]any, len(specs))
	for i, s := range specs {
		codes[i] = string(s.Code)
	}
	defs.set("ErrorCode", o(
		"description", "The codes this version of the contract defines. Codes are never renamed or removed; new ones may be added, so a client must accept a code it does not know (see the code property of Error).",
		"type", "string",
		"enum", codes,
	))
	defs.set("RequestId", o(
		"description", "The request's ID, equal to the response's X-Request-Id header: \"req_\" and a 26-character ULID. Quote it in support tickets.",
		"type", "string",
		"pattern", requestIDPattern,
		"examples", []any{exampleRequestID},
	))
	defs.set("Envelope", o(
		"description", "The body of every 4xx and 5xx response.",
		"type", "object",
		"required", []any{"error"},
		"additionalProperties", false,
		"properties", o("error", refTo(ref, "Error")),
	))

	conditionals := make([]any, 0, len(specs))
	jobConditionals := make([]any, 0, len(specs))
	for _, s := range specs {
		n := typeName(s.Code)
		when := o("properties", o("code", o("const", string(s.Code))), "required", []any{"code"})
		conditionals = append(conditionals, o("if", when, "then", refTo(ref, n+"Error")))
		if then := jobErrorOf(ref, s); then != nil {
			jobConditionals = append(jobConditionals, o("if", when, "then", then))
		}
	}
	defs.set("Error", o(
		"description", "The error object of the envelope. A known code must also match that code's schema (<Code>Error); a code this version does not know only needs the common shape.",
		"type", "object",
		"required", []any{"code", "message", "requestId"},
		"additionalProperties", false,
		"properties", o(
			"code", o(
				"description", "The stable code to branch on. See ErrorCode for the codes of this version.",
				"type", "string", "pattern", codePattern, "maxLength", 64,
			),
			"message", o("description", "A human sentence. Log it; don't branch on it.", "type", "string"),
			"requestId", refTo(ref, "RequestId"),
			"details", o("description", "The code's structured context; its documented fields are guaranteed.", "type", "object"),
		),
		"allOf", conditionals,
	))
	defs.set("JobError", o(
		"description", "The error of a failed async job, inside the terminal GET /v1/jobs/:jobId response: the envelope's vocabulary, with the structured context named data (the job stage first, then the code's details) and no requestId (the outer HTTP response carries X-Request-Id).",
		"type", "object",
		"required", []any{"code", "message", "data"},
		"additionalProperties", false,
		"properties", o(
			"code", o("type", "string", "pattern", codePattern, "maxLength", 64),
			"message", o("type", "string"),
			"data", refTo(ref, "JobErrorData"),
		),
		"allOf", jobConditionals,
	))
	defs.set("JobErrorData", o(
		"description", "The data of a job error: stage, the job stage active when the failure occurred, followed by the fields of the code's details.",
		"type", "object",
		"required", []any{"stage"},
		"properties", o("stage", o("type", "string", "minLength", 1)),
	))
	defs.set("Job", o(
		"description", "The status body of GET /v1/jobs/:jobId. finishedAt is set exactly when the status is terminal, error exactly when it is failed, result only when it is succeeded.",
		"type", "object",
		"required", []any{"status"},
		"additionalProperties", false,
		"properties", o(
			"status", o("type", "string", "enum", []any{"queued", "running", "succeeded", "failed"}),
			"finishedAt", o("type", "string", "format", "date-time"),
			"error", refTo(ref, "JobError"),
			"result", o("description", "The output of a succeeded job, any JSON value."),
		),
		"allOf", []any{
			o("if", o("properties", o("status", o("const", "failed"))),
				"then", o("required", []any{"finishedAt", "error"}),
				"else", o("not", o("required", []any{"error"}))),
			o("if", o("properties", o("status", o("enum", []any{"queued", "running"}))),
				"then", o("not", o("anyOf", []any{o("required", []any{"finishedAt"}), o("required", []any{"result"})})),
				"else", o("required", []any{"finishedAt"})),
		},
	))

	for _, s := range specs {
		ds, _ := apierror.DetailsSchemaOf(s.Code)
		n := typeName(s.Code)
		if len(ds.Fields) > 0 {
			defs.set(n+"Details", detailsSchema(s, ds))
		}
		defs.set(n+"Error", errorOf(ref, s, ds))
		defs.set(n+"Envelope", o(
			"description", string(s.Code)+": the envelope.",
			"type", "object",
			"required", []any{"error"},
			"additionalProperties", false,
			"properties", o("error", refTo(ref, n+"Error")),
		))
	}
	return defs
}

// detailsSchema is the schema of a code's details object. It stays open to
// fields it does not list: details may grow.
func detailsSchema(s apierror.Spec, ds apierror.DetailsSchema) *obj {
	desc := "The details of " + string(s.Code) + "."
	if len(s.Details) > 0 {
		desc += " Guaranteed: " + strings.Join(s.Details, ", ") + "."
	}
	switch ds.Presence {
	case apierror.DetailsSometimes:
		desc += " The details may be absent; when present, the required fields are."
	}
	schema := o("description", desc, "type", "object")
	props, required := fieldsSchema(ds.Fields)
	if len(required) > 0 {
		schema.set("required", required)
	}
	schema.set("properties", props)
	return schema
}

// fieldsSchema returns the properties and the required names of fields.
func fieldsSchema(fields []apierror.DetailsField) (*obj, []any) {
	props := o()
	var required []any
	for _, f := range fields {
		props.set(f.Name, fieldSchema(f))
		if f.Required {
			required = append(required, f.Name)
		}
	}
	return props, required
}

func fieldSchema(f apierror.DetailsField) *obj {
	s := o()
	if f.Nullable {
		s.set("type", []any{string(f.Type), "null"})
	} else {
		s.set("type", string(f.Type))
	}
	switch f.Type {
	case apierror.FieldInteger:
		s.set("format", "int64")
		if f.Minimum != nil {
			s.set("minimum", *f.Minimum)
		}
	case apierror.FieldArray:
		props, required := fieldsSchema(f.Items)
		item := o("type", "object")
		if len(required) > 0 {
			item.set("required", required)
		}
		item.set("properties", props)
		s.set("items", item)
	}
	if f.Enum != nil {
		enum := make([]any, len(f.Enum))
		for i, e := range f.Enum {
			enum[i] = e
		}
		s.set("enum", enum)
	}
	return s
}

// errorOf is the schema of the error object of one code: the code as a
// constant, details as the code's (required when always present, refused
// for INTERNAL), INTERNAL's message as its constant.
func errorOf(ref func(string) string, s apierror.Spec, ds apierror.DetailsSchema) *obj {
	required := []any{"code", "message", "requestId"}
	message := o("type", "string")
	if s.Code == apierror.CodeInternal {
		message = o("const", apierror.InternalMessage)
	}
	props := o(
		"code", o("const", string(s.Code)),
		"message", message,
		"requestId", refTo(ref, "RequestId"),
	)
	schema := o(
		"description", errorDescription(s),
		"type", "object",
	)
	switch ds.Presence {
	case apierror.DetailsAlways:
		required = append(required, "details")
		props.set("details", refTo(ref, typeName(s.Code)+"Details"))
	case apierror.DetailsSometimes:
		props.set("details", refTo(ref, typeName(s.Code)+"Details"))
	case apierror.DetailsNone:
		props.set("details", o("type", "object"))
	case apierror.DetailsNever:
		schema.set("not", o("required", []any{"details"}))
	}
	schema.set("required", required)
	schema.set("additionalProperties", false)
	schema.set("properties", props)
	return schema
}

// errorDescription says what the code means, its HTTP status, category and
// retry advice, from the catalogue.
func errorDescription(s apierror.Spec) string {
	return string(s.Code) + " (HTTP " + strconv.Itoa(s.Status) + ", " + strings.ReplaceAll(string(s.Category), "_", " ") +
		"). " + s.Meaning + " Retry: " + s.Retry.Text + " (" + string(s.Retry.Kind) + "). What to check: " + s.Check
}

// jobErrorOf is what a job error of one code must satisfy beyond JobError:
// the data carries the code's details next to the stage. It is nil for a
// code that adds nothing.
func jobErrorOf(ref func(string) string, s apierror.Spec) *obj {
	ds, _ := apierror.DetailsSchemaOf(s.Code)
	props := o()
	if s.Code == apierror.CodeInternal {
		props.set("message", o("const", apierror.InternalMessage))
	}
	details := refTo(ref, typeName(s.Code)+"Details")
	switch ds.Presence {
	case apierror.DetailsAlways:
		props.set("data", details)
	case apierror.DetailsSometimes:
		// Either the details' fields are there, complete, or none of the
		// required ones is.
		var none []any
		for _, f := range ds.Fields {
			if f.Required {
				none = append(none, o("required", []any{f.Name}))
			}
		}
		props.set("data", o("anyOf", []any{details, o("not", o("anyOf", none))}))
	case apierror.DetailsNever:
		props.set("data", o("properties", o("stage", o("type", "string")), "additionalProperties", false))
	}
	if len(props.keys) == 0 {
		return nil // the code adds nothing to JobError
	}
	return o("properties", props)
}
