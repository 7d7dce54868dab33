package main

// jsonSchemaDialect is the meta-schema of the JSON Schema files.
const jsonSchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// jsonSchemaFile returns a JSON Schema (2020-12) document whose root is the
// definition root, with every shared definition under $defs.
func jsonSchemaFile(title, root, comment string) ([]byte, error) {
	ref := func(n string) string { return "#/$defs/" + n }
	doc := o(
		"$schema", jsonSchemaDialect,
		"$comment", comment,
		"title", title,
		"$ref", ref(root),
		"$defs", definitions(ref),
	)
	return jsonFile(doc)
}

// EnvelopeSchema returns docs/schema/envelope.schema.json: the body of every
// 4xx and 5xx response.
func EnvelopeSchema() ([]byte, error) {
	return jsonSchemaFile("Partner API error envelope", "Envelope", generatedNotice)
}

// JobErrorSchema returns docs/schema/job-error.schema.json: the error of a
// failed async job.
func JobErrorSchema() ([]byte, error) {
	return jsonSchemaFile("Partner API job error", "JobError", generatedNotice)
}
