package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// The published errors page and the generated one are compared by content,
// after both go through normalisePage:
//
//  1. Only what follows the first thematic break (a line "---") counts.
//     Before it each copy has its own title and preamble: the published
//     copy says where it comes from, the generated one that it is generated.
//  2. HTML comments are dropped.
//  3. Whitespace: lines are trimmed, the lines of a paragraph or of a list
//     item are joined with one space, runs of whitespace collapse to one
//     space, and blank lines only separate blocks. Re-wrapping a paragraph
//     changes nothing.
//  4. Tables: cells are trimmed (padding does not count) and a separator
//     row is |---|; rows and their cells must otherwise be equal.
//  5. Links: [text](target) counts as its text, so the repository's copy may
//     link to its own files where the published page has plain text.
//  6. Fenced JSON: compared as JSON values, key order included. A string of
//     the published page containing "..." stands for any string that starts
//     with what precedes the "..." and ends with what follows it: the
//     published page elides IDs ("req_01HXZ9G7...") that the generated page
//     spells out. Indentation does not count.
//
// Headings, words, code spans, code names, statuses, retry wording and
// every other character must be equal.

// pageBlock is one block of a normalised page.
type pageBlock struct {
	kind string // "heading", "para", "item", "row", "code:<lang>"
	text string // normalised text; for code, the raw fenced lines
}

var (
	htmlComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	mdLink      = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	spaces      = regexp.MustCompile(`\s+`)
	separator   = regexp.MustCompile(`^:?-{3,}:?$`)
)

// inline normalises the text of a paragraph, item, heading or cell.
func inline(s string) string {
	return strings.TrimSpace(spaces.ReplaceAllString(mdLink.ReplaceAllString(s, "$1"), " "))
}

// tableRow normalises a table row: its cells, split on unescaped pipes,
// each trimmed.
func tableRow(line string) string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(line[i])
		}
	}
	cells = append(cells, cur.String())
	for i, c := range cells {
		c = inline(c)
		if separator.MatchString(c) {
			c = "---"
		}
		cells[i] = c
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// normalisePage splits page into its normalised blocks (see the rules
// above).
func normalisePage(page string) ([]pageBlock, error) {
	page = htmlComment.ReplaceAllString(strings.ReplaceAll(page, "\r\n", "\n"), "")
	lines := strings.Split(page, "\n")
	start := -1
	inFence := false
	for i, l := range lines {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "```") {
			inFence = !inFence
		}
		if !inFence && tl == "---" {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, errors.New("the page has no thematic break (---) before its content")
	}
	var blocks []pageBlock
	var cur *pageBlock
	flush := func() {
		if cur != nil {
			cur.text = inline(cur.text)
			blocks = append(blocks, *cur)
			cur = nil
		}
	}
	for i := start; i < len(lines); i++ {
		tl := strings.TrimSpace(lines[i])
		switch {
		case strings.HasPrefix(tl, "```"):
			flush()
			lang := strings.TrimPrefix(tl, "```")
			var body []string
			i++
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				body = append(body, lines[i])
			}
			if i == len(lines) {
				return nil, errors.New("unterminated code fence")
			}
			blocks = append(blocks, pageBlock{kind: "code:" + lang, text: strings.Join(body, "\n")})
		case tl == "":
			flush()
		case strings.HasPrefix(tl, "#"):
			flush()
			blocks = append(blocks, pageBlock{kind: "heading", text: inline(tl)})
		case strings.HasPrefix(tl, "|"):
			flush()
			blocks = append(blocks, pageBlock{kind: "row", text: tableRow(tl)})
		case strings.HasPrefix(tl, "- ") || strings.HasPrefix(tl, "* "):
			flush()
			cur = &pageBlock{kind: "item", text: tl[2:]}
		default:
			if cur == nil {
				cur = &pageBlock{kind: "para"}
			}
			cur.text += " " + tl
		}
	}
	flush()
	return blocks, nil
}

// matchElided reports whether the generated JSON value gen says what the
// published value pub says, "..." in pub's strings standing for any text.
func matchElided(pub, gen any) bool {
	switch p := pub.(type) {
	case *obj:
		g, ok := gen.(*obj)
		if !ok || len(p.keys) != len(g.keys) {
			return false
		}
		for i, k := range p.keys {
			if g.keys[i] != k || !matchElided(p.vals[k], g.vals[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := gen.([]any)
		if !ok || len(p) != len(g) {
			return false
		}
		for i := range p {
			if !matchElided(p[i], g[i]) {
				return false
			}
		}
		return true
	case string:
		g, ok := gen.(string)
		if !ok {
			return false
		}
		parts := strings.Split(p, "...")
		if len(parts) == 1 {
			return p == g
		}
		if !strings.HasPrefix(g, parts[0]) {
			return false
		}
		rest := g[len(parts[0]):]
		for _, mid := range parts[1 : len(parts)-1] {
			i := strings.Index(rest, mid)
			if i < 0 {
				return false
			}
			rest = rest[i+len(mid):]
		}
		return strings.HasSuffix(rest, parts[len(parts)-1])
	default:
		return pub == gen
	}
}

// renderBlocks is the normalised page as text, for a readable diff. A
// published JSON block that matches its generated counterpart is rendered
// as the generated one.
func renderBlocks(blocks []pageBlock) string {
	var b strings.Builder
	for _, bl := range blocks {
		b.WriteString("[" + bl.kind + "] " + bl.text + "\n")
	}
	return b.String()
}

// comparePages returns the published and the generated page normalised,
// with the published JSON blocks resolved against the generated ones; the
// pages say the same when the two are equal.
func comparePages(published, generated string) (string, string, error) {
	pub, err := normalisePage(published)
	if err != nil {
		return "", "", err
	}
	gen, err := normalisePage(generated)
	if err != nil {
		return "", "", err
	}
	for _, blocks := range [][]pageBlock{pub, gen} {
		for i, bl := range blocks {
			if bl.kind != "code:json" {
				continue
			}
			v, err := parseOrdered([]byte(bl.text))
			if err != nil {
				return "", "", err
			}
			compact, err := marshal(v)
			if err != nil {
				return "", "", err
			}
			blocks[i].text = string(compact)
		}
	}
	for i := range pub {
		if i >= len(gen) || pub[i].kind != "code:json" || gen[i].kind != "code:json" {
			continue
		}
		p, _ := parseOrdered([]byte(pub[i].text))
		g, _ := parseOrdered([]byte(gen[i].text))
		if matchElided(p, g) {
			pub[i].text = gen[i].text
		}
	}
	return renderBlocks(pub), renderBlocks(gen), nil
}

// publishedPagePath is where the contract's published errors page is kept:
// beside the repository (never inside it, and never linked from it).
func publishedPagePath(root string) string {
	return filepath.Join(root, "..", "shared", "spec", "errors.md")
}

// loadPublished reads the published page at path. A missing page is an
// error under CI and reported as not found elsewhere.
func loadPublished(path string, ci bool) (page string, found bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && ci:
		return "", false, fmt.Errorf("CI=true: the published errors page must be checked out at %s", path)
	case errors.Is(err, fs.ErrNotExist):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return string(b), true, nil
}

func TestLoadPublished(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "errors.md")
	_, found, err := loadPublished(missing, false)
	require.NoError(t, err)
	assert.False(t, found, "missing outside CI: skip")
	_, _, err = loadPublished(missing, true)
	assert.ErrorContains(t, err, "CI=true", "missing under CI: fail")
	require.NoError(t, os.WriteFile(missing, []byte("page"), 0o644))
	page, found, err := loadPublished(missing, true)
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "page", page)
}

// TestPageMatchesPublishedPage: docs/errors.md, generated from the code, says
// what the published errors page says (see normalisePage for what may
// differ).
func TestPageMatchesPublishedPage(t *testing.T) {
	path := publishedPagePath(repoRoot(t))
	published, found, err := loadPublished(path, os.Getenv("CI") == "true")
	require.NoError(t, err)
	if !found {
		t.Skipf("the published errors page is not checked out at %s (../shared/spec/errors.md beside the repository); "+
			"the comparison runs wherever it is, and CI=true requires it", path)
	}
	generated, err := Page()
	require.NoError(t, err)
	pub, gen, err := comparePages(published, string(generated))
	require.NoError(t, err)
	assert.Equal(t, pub, gen, "docs/errors.md and the published page differ in content")
}

func TestNormalisePage(t *testing.T) {
	const base = "# Title\n\npreamble\n\n---\n\nSome text that\nwraps.\n\n" +
		"| Code | HTTP |\n|---|---|\n| A | 1 |\n\n- an item\n  continued\n\n" +
		"```json\n{\"a\": \"req_01HX...\", \"b\": [1, {\"c\": null}]}\n```\n"
	const same = "# Another title\n\n<!-- generated -->\n\n---\n\nSome   text\nthat wraps.\n" +
		"| Code   |  HTTP |\n| :--- | ---: |\n|  A | 1 |\n\n- an item continued\n\n" +
		"```json\n{\n  \"a\": \"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\",\n  \"b\": [1, {\"c\": null}]\n}\n```\n"
	pub, gen, err := comparePages(base, same)
	require.NoError(t, err)
	assert.Equal(t, pub, gen, "wrapping, padding, separators, comments, preamble and elided IDs don't count")

	linked := strings.Replace(same, "Some   text", "Some [text](guide.md)", 1)
	pub, gen, err = comparePages(base, linked)
	require.NoError(t, err)
	assert.Equal(t, pub, gen, "a link counts as its text")

	for name, tc := range map[string]struct{ from, to string }{
		"a word":                 {"wraps.", "wrapped."},
		"a cell":                 {"|  A | 1 |", "|  A | 2 |"},
		"a heading":              {"# Another title\n\n<!-- generated -->\n\n---\n\n", "# Another title\n\n---\n\n## New\n\n"},
		"a JSON value":           {"[1, {", "[2, {"},
		"a null":                 {`"c": null`, `"c": 0`},
		"the elided prefix":      {"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T", "req_02HXZ9G7KMV2QX8Y1S5RJW3B7T"},
		"the key order":          {"\"a\": \"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\",\n  \"b\": [1, {\"c\": null}]", "\"b\": [1, {\"c\": null}],\n  \"a\": \"req_01HXZ9G7KMV2QX8Y1S5RJW3B7T\""},
		"an item becomes a para": {"- an item continued", "an item continued"},
		"a row is dropped":       {"|  A | 1 |\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			changed := strings.Replace(same, tc.from, tc.to, 1)
			require.NotEqual(t, same, changed)
			pub, gen, err := comparePages(base, changed)
			require.NoError(t, err)
			assert.NotEqual(t, pub, gen)
		})
	}

	_, err = normalisePage("no break\n")
	assert.Error(t, err)
	_, err = normalisePage("---\n```json\n{}\n")
	assert.Error(t, err)
}

func TestMatchElided(t *testing.T) {
	for _, tc := range []struct {
		pub, gen string
		want     bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"ab...", "abcdef", true},
		{"...ef", "abcdef", true},
		{"a...c...f", "abcdef", true},
		{"a...x...f", "abcdef", false},
		{"Content container cnt_7d18b9a1... is not approved.", "Content container cnt_7d18b9a1-8b2c is not approved.", true},
		{"Content container cnt_7d18b9a1... is not approved.", "Content container cnt_1 is not approved.", false},
		{"ab...ba", "aba", false},
	} {
		assert.Equal(t, tc.want, matchElided(tc.pub, tc.gen), "%q ~ %q", tc.pub, tc.gen)
	}
	assert.False(t, matchElided("1", 1), "types must agree")
}

// TestPageLayout: the generated page has the contract's four tables with
// every code but the job path's exactly once, the job path's code in the
// job failures section, no link outside the repository, and overrides of
// the catalogue's wording only where the page really words it differently.
func TestPageLayout(t *testing.T) {
	raw, err := Page()
	require.NoError(t, err)
	page := string(raw)
	for _, h := range pageHeadings {
		assert.Equal(t, 1, strings.Count(page, "\n## "+h.heading+"\n"), h.heading)
	}
	assert.Equal(t, 4, strings.Count(page, "| Code | HTTP | What happened | Retry? | What to check |"))
	for _, s := range apierror.Catalogue() {
		n := strings.Count(page, "\n| "+string(s.Code)+" | ")
		if s.Code == jobPathCode {
			assert.Zero(t, n, "%s is not in a table", s.Code)
			assert.Contains(t, page, "`"+string(s.Code)+"` (500)")
			continue
		}
		assert.Equal(t, 1, n, "%s has one row", s.Code)
	}
	for code, m := range pageMeaning {
		spec, ok := apierror.Lookup(code)
		require.True(t, ok)
		assert.NotEqual(t, spec.Meaning, m, "%s: the override is the catalogue's wording; drop it", code)
	}
	assert.NotContains(t, page, "../shared")
	for _, l := range mdLink.FindAllString(page, -1) {
		assert.NotContains(t, l, "://", "a link outside the repository: %s", l)
	}
}
