package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratedFilesMatchCode fails when any generated file (docs/openapi.yaml,
// docs/catalogue.json, docs/schema/*.json, docs/errors.md, the generated
// sections of README.md and docs/*.md) differs from what the code generates.
// Fix with: go run ./internal/docgen (from the repository root), or
// go test ./internal/docgen -update.
func TestGeneratedFilesMatchCode(t *testing.T) {
	root := repoRoot(t)
	if *update {
		_, err := run(root, true)
		require.NoError(t, err)
	}
	outs, err := outputs(root)
	require.NoError(t, err)
	paths := map[string]bool{}
	for _, o := range outs {
		paths[o.path] = true
		t.Run(o.path, func(t *testing.T) {
			have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(o.path)))
			require.NoError(t, err, "%s is missing; run: go run ./internal/docgen", o.path)
			require.Equal(t, string(o.want), string(have),
				"%s differs from the code; run: go run ./internal/docgen (or go test ./internal/docgen -update)", o.path)
		})
	}
	for _, g := range generatedFiles {
		assert.True(t, paths[g.path], "%s is checked", g.path)
	}
}

// TestRunWritesMissingFiles: run creates the generated files (and their
// directories) in a fresh tree, reports them, and a second run finds
// nothing to do; without write it only reports.
func TestRunWritesMissingFiles(t *testing.T) {
	root := t.TempDir()
	codesBegin, codesEnd := markers("error-codes")
	mapBegin, mapEnd := markers("error-mapping")
	readme := []byte(codesBegin + "\n" + codesEnd + "\n" + mapBegin + "\n" + mapEnd + "\n")
	require.NoError(t, os.WriteFile(filepath.Join(root, "README.md"), readme, 0o644))

	stale, err := run(root, false)
	require.NoError(t, err)
	assert.Len(t, stale, len(generatedFiles)+1, "every generated file and README.md")
	_, err = os.Stat(filepath.Join(root, "docs"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a check writes nothing")

	stale, err = run(root, true)
	require.NoError(t, err)
	assert.Len(t, stale, len(generatedFiles)+1)
	for _, g := range generatedFiles {
		want, err := g.build()
		require.NoError(t, err)
		have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(g.path)))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(have), g.path)
	}

	stale, err = run(root, true)
	require.NoError(t, err)
	assert.Empty(t, stale, "up to date")
}

// TestGenerationIsDeterministic: two builds of every file are the same bytes.
func TestGenerationIsDeterministic(t *testing.T) {
	for _, g := range generatedFiles {
		a, err := g.build()
		require.NoError(t, err)
		b, err := g.build()
		require.NoError(t, err)
		assert.Equal(t, string(a), string(b), g.path)
		assert.NotContains(t, string(a), "../shared", "%s links outside the repository", g.path)
	}
}
