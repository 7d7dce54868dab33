// Package migration_test keeps the echo v5 migration guide
// (docs/migration-echo5.md) true: its diff is the diff of the two programs,
// which their own tests build and run.
package migration_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// update rewrites the guide's diff blocks from the programs, one hunk per
// block, when the number of hunks has not changed (go test -run TestGuide
// -update); the prose around them is for the author to check.
var update = flag.Bool("update", false, "rewrite the diff blocks of docs/migration-echo5.md")

const (
	guidePath = "../../docs/migration-echo5.md"
	before    = "examples/migration/echo4/main.go"
	after     = "examples/migration/echo5/main.go"
	context   = 3 // lines of context around a change, as diff -u
)

// TestGuideDiff requires the diff blocks of the guide, between its markers,
// to be exactly the unified diff of the echo v4 program to the echo v5
// program, one hunk per block (so that every hunk is explained on its own).
func TestGuideDiff(t *testing.T) {
	old := readLines(t, filepath.Join("echo4", "main.go"))
	cur := readLines(t, filepath.Join("echo5", "main.go"))
	hunks := unifiedHunks(old, cur, context)
	require.NotEmpty(t, hunks, "the programs are the same")
	want := make([]string, len(hunks))
	for i, h := range hunks {
		want[i] = h
	}
	want[0] = "--- " + before + "\n+++ " + after + "\n" + want[0]

	guide, err := os.ReadFile(guidePath)
	require.NoError(t, err)
	start, end, blocks := diffBlocks(t, string(guide))
	if *update && len(blocks) == len(want) {
		section := string(guide[start:end])
		i := 0
		section = blockRE.ReplaceAllStringFunc(section, func(string) string {
			b := "```diff\n" + want[i] + "```"
			i++
			return b
		})
		require.NoError(t, os.WriteFile(guidePath, []byte(string(guide[:start])+section+string(guide[end:])), 0o644))
		blocks = want
	}
	require.Len(t, blocks, len(want), "the guide has %d diff blocks, the programs' diff %d hunks; the diff:\n%s",
		len(blocks), len(want), strings.Join(want, ""))
	for i := range want {
		require.Equal(t, want[i], blocks[i], "diff block %d of %s is not hunk %d of the programs' diff", i+1, guidePath, i+1)
	}
}

// TestUnifiedHunks checks the diff itself, on the cases the programs'
// diff relies on: a change at the start, one in the middle, hunks merged
// when their context overlaps, pure insertions and deletions.
func TestUnifiedHunks(t *testing.T) {
	lines := func(s string) []string { return strings.SplitAfter(s, "\n")[:strings.Count(s, "\n")] }
	tests := []struct {
		name, a, b string
		want       []string
	}{
		{"same", "a\nb\n", "a\nb\n", nil},
		{"first line", "a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", []string{"@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n"}},
		{"middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			[]string{"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"}},
		{"insertion", "a\nb\n", "a\nx\nb\n", []string{"@@ -1,2 +1,3 @@\n a\n+x\n b\n"}},
		{"deletion of the only line", "a\n", "", []string{"@@ -1 +0,0 @@\n-a\n"}},
		{"insertion into nothing", "", "a\n", []string{"@@ -0,0 +1 @@\n+a\n"}},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
			[]string{"@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n", "@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n"}},
		{"merged hunks", "1\n2\n3\n4\n5\n6\n7\n8\n", "one\n2\n3\n4\n5\n6\n7\neight\n",
			[]string{"@@ -1,8 +1,8 @@\n-1\n+one\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+eight\n"}},
		{"hunks apart by one line", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "one\n2\n3\n4\n5\n6\n7\n8\nnine\n",
			[]string{"@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n", "@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+nine\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, unifiedHunks(lines(tt.a), lines(tt.b), context))
		})
	}
}

// The guide's diff lives between these markers, in ```diff blocks.
var (
	beginRE = regexp.MustCompile(`<!-- BEGIN migration-diff[^>]*-->\n`)
	endRE   = regexp.MustCompile(`<!-- END migration-diff -->`)
	blockRE = regexp.MustCompile("(?s)```diff\n(.*?)```")
)

// diffBlocks returns where the marked section of guide is and the contents
// of its diff blocks, in order.
func diffBlocks(t *testing.T, guide string) (start, end int, blocks []string) {
	t.Helper()
	b := beginRE.FindStringIndex(guide)
	require.NotNil(t, b, "%s has no BEGIN migration-diff marker", guidePath)
	e := endRE.FindStringIndex(guide[b[1]:])
	require.NotNil(t, e, "%s has no END migration-diff marker after BEGIN", guidePath)
	start, end = b[1], b[1]+e[0]
	for _, m := range blockRE.FindAllStringSubmatch(guide[start:end], -1) {
		blocks = append(blocks, m[1])
	}
	return start, end, blocks
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(b)
	require.True(t, strings.HasSuffix(s, "\n"), "%s does not end in a newline", path)
	return strings.SplitAfter(s, "\n")[:strings.Count(s, "\n")]
}

// op is one line of an edit script: ' ' kept, '-' deleted, '+' inserted.
type op struct {
	kind byte
	line string
}

// unifiedHunks returns the hunks of the unified diff of a to b (lines with
// their newlines), each "@@ ... @@\n" and its lines, with ctx lines of
// context, in GNU diff's format. The edit script is a longest common
// subsequence, deletions before insertions within a change.
func unifiedHunks(a, b []string, ctx int) []string {
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var script []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			script = append(script, op{' ', a[i]})
			i, j = i+1, j+1
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			script = append(script, op{'-', a[i]})
			i++
		default:
			script = append(script, op{'+', b[j]})
			j++
		}
	}

	// Group the changes: a hunk runs from ctx lines before its first
	// change to ctx lines after its last, and hunks whose context would
	// touch or overlap are one.
	var hunks []string
	for k := 0; k < len(script); {
		if script[k].kind == ' ' {
			k++
			continue
		}
		first := max(0, k-ctx)
		last := k // the last change of the hunk
		for m := k + 1; m < len(script); m++ {
			if script[m].kind == ' ' {
				continue
			}
			if m-last-1 > 2*ctx { // more unchanged lines between than two contexts
				break
			}
			last = m
		}
		stop := min(len(script), last+ctx+1)
		// Line numbers of the hunk's first line in a and b.
		aStart, bStart := 0, 0
		for _, o := range script[:first] {
			if o.kind != '+' {
				aStart++
			}
			if o.kind != '-' {
				bStart++
			}
		}
		var body strings.Builder
		aLen, bLen := 0, 0
		for _, o := range script[first:stop] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
			body.WriteByte(o.kind)
			body.WriteString(o.line)
		}
		hunks = append(hunks, fmt.Sprintf("@@ -%s +%s @@\n", span(aStart, aLen), span(bStart, bLen))+body.String())
		k = stop
	}
	return hunks
}

// span is a hunk range as GNU diff writes it: "start,len", "start" alone
// when len is 1, and the line before the hunk when len is 0.
func span(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
