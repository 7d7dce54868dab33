package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/httperror"
)

func TestMappingTable(t *testing.T) {
	rows := httperror.Mapping()
	lines := strings.Split(strings.TrimSuffix(MappingTable(rows), "\n"), "\n")
	require.Len(t, lines, 2+len(rows))
	assert.Equal(t, "| Error | Code | HTTP | Response |", lines[0])
	assert.Equal(t, "| `*httperror.PanicError` (a recovered panic) | `INTERNAL` | 500 | the stack is logged |", lines[2])
	assert.Equal(t, "| `*apierror.Error` anywhere in the chain | its own | its own | its own code, status and details |", lines[3])
	assert.Contains(t, lines, "| 405 (router: method not allowed) | `NOT_FOUND` | 404 | the Allow header is kept |")
}

func TestTable(t *testing.T) {
	table := Table(apierror.Catalogue())
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	require.Len(t, lines, 2+23, "header, separator, one row per code")
	assert.Equal(t, "| Code | HTTP | Category | Retry | Guaranteed details | What to check |", lines[0])
	assert.Equal(t, "|---|---|---|---|---|---|", lines[1])
	assert.Equal(t,
		"| `UNAUTHENTICATED` | 401 | caller bug | No (`never`) | — | `Authorization: Bearer lp_…` header. Is it the current key? Has it been revoked? Run `GET /v1/whoami` to sanity-check. |",
		lines[2])
	assert.Equal(t,
		"| `UPLOAD_QUOTA_EXCEEDED` | 409 | policy gate | After freeing quota (`after_state_change`) | `currentUploads`, `maxUploads`, `currentBytes`, `maxBytes` | Delete uploaded content you no longer need, or contact support to raise the limits. |",
		lines[2+17])
	for i, l := range lines[2:] {
		assert.Equal(t, 6, strings.Count(l, " |"), "row %d has six cells: %s", i, l)
	}
}

func TestCellEscaping(t *testing.T) {
	specs := []apierror.Spec{{
		Code: "X_Y", Status: 418, Category: apierror.CategoryUpstream,
		Retry:   apierror.RetryAdvice{Kind: apierror.RetryDepends, Text: "a | b"},
		Details: []string{"p|q"},
		Check:   "line one\nline two | `x|y`",
	}}
	row := strings.Split(Table(specs), "\n")[2]
	assert.Equal(t, "| `X_Y` | 418 | upstream | a \\| b (`depends`) | `p\\|q` | line one line two \\| `x\\|y` |", row)
}

func TestRewrite(t *testing.T) {
	beginMarker, endMarker := markers("error-codes")
	doc := []byte("# T\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\nafter\n")
	out, err := Rewrite(doc, "error-codes", "| new |\n")
	require.NoError(t, err)
	assert.Equal(t, "# T\n\nintro\n\n"+beginMarker+"\n| new |\n"+endMarker+"\n\nafter\n", string(out))
	again, err := Rewrite(out, "error-codes", "| new |\n")
	require.NoError(t, err)
	assert.Equal(t, string(out), string(again), "idempotent")

	for name, bad := range map[string]string{
		"no markers":   "# T\n",
		"no end":       beginMarker + "\n",
		"reversed":     endMarker + "\n" + beginMarker + "\n",
		"twice":        beginMarker + endMarker + beginMarker + endMarker,
		"only the end": endMarker,
	} {
		_, err := Rewrite([]byte(bad), "error-codes", "x")
		assert.Error(t, err, name)
	}
}

// TestRunRewritesSections: run rewrites the sections of README.md and of
// docs/*.md wherever they are, leaves the rest of the files alone, and fails
// when a section is in no file or its markers are broken.
func TestRunRewritesSections(t *testing.T) {
	codesBegin, codesEnd := markers("error-codes")
	mapBegin, mapEnd := markers("error-mapping")
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "docs"), 0o755))
	readme := filepath.Join(root, "README.md")
	contract := filepath.Join(root, "docs", "contract.md")
	other := filepath.Join(root, "docs", "guide.md")
	require.NoError(t, os.WriteFile(readme, []byte("a\n"+codesBegin+"\nstale\n"+codesEnd+"\nb\n"), 0o644))
	require.NoError(t, os.WriteFile(contract, []byte("c\n"+mapBegin+"\n"+mapEnd+"\n"), 0o644))
	require.NoError(t, os.WriteFile(other, []byte("no sections\n"), 0o644))

	stale, err := run(root, true)
	require.NoError(t, err)
	assert.Contains(t, stale, "README.md")
	assert.Contains(t, stale, "docs/contract.md")
	assert.NotContains(t, stale, "docs/guide.md")
	got, err := os.ReadFile(readme)
	require.NoError(t, err)
	assert.Equal(t, "a\n"+codesBegin+"\n"+Table(apierror.Catalogue())+codesEnd+"\nb\n", string(got))
	got, err = os.ReadFile(contract)
	require.NoError(t, err)
	assert.Equal(t, "c\n"+mapBegin+"\n"+MappingTable(httperror.Mapping())+mapEnd+"\n", string(got))
	got, err = os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, "no sections\n", string(got))

	require.NoError(t, os.WriteFile(contract, []byte("c\n"), 0o644))
	_, err = run(root, true)
	assert.ErrorContains(t, err, "no Markdown file (README.md, docs/*.md) has the error-mapping markers")

	require.NoError(t, os.WriteFile(contract, []byte(mapBegin+"\n"), 0o644))
	_, err = run(root, true)
	assert.ErrorContains(t, err, "docs/contract.md: docgen: the file lacks the error-mapping markers")

	_, err = run(t.TempDir(), true)
	assert.Error(t, err, "a root without README.md")
}
