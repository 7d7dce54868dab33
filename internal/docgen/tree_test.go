package main

import (
	"encoding/json"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestYAMLReadsBackAsTheTree: docs/openapi.yaml, read by libopenapi's YAML
// parser, is exactly the tree the generator built (every string, number,
// boolean, null, list and object).
func TestYAMLReadsBackAsTheTree(t *testing.T) {
	tree, err := openAPIDocument()
	require.NoError(t, err)
	want, err := marshal(tree)
	require.NoError(t, err)
	raw, err := OpenAPI()
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	got, err := json.Marshal(*doc.GetSpecInfo().SpecJSON)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
}

// TestYAMLScalars: every awkward string reads back as itself.
func TestYAMLScalars(t *testing.T) {
	values := []any{
		"plain", "two words", "yes", "No", "null", "~", "true", "1", "1.5", "0x10", "-", "- a", "a: b", "a #b", "#c",
		"[x]", "{y}", "a,b", `quo"te`, "'single'", "back\\slash", "new\nline", "tab\there", "  lead", "trail ",
		"$ref", "#/components/schemas/X", "^req_[0-7]$", "…—ünïcode", "@at", "`tick`", "%pct", "*star", "&amp", "!bang", "|pipe", ">gt",
		"", int64(-3), 42, true, false, nil, json.Number("1500"),
	}
	tree := o("k", o())
	list := []any{}
	for i, v := range values {
		tree.set("key"+string(rune('a'+i%26))+string(rune('a'+i/26)), v)
		list = append(list, v)
	}
	tree.set("list", list)
	tree.set("objects", []any{o("a", 1, "b", o("c", []any{})), o(), "scalar"})
	tree.set("yes", "a key that is a YAML 1.1 boolean")
	raw, err := yamlFile("header\nsecond line", o("openapi", "3.1.1", "info", o("title", "t", "version", "v"), "x-values", tree))
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err, "%s", raw)
	got, err := json.Marshal((*doc.GetSpecInfo().SpecJSON)["x-values"])
	require.NoError(t, err)
	want, err := marshal(tree)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "%s", raw)
}
