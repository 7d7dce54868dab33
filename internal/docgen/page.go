package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/layershq/errkit/apierror"
	"github.com/layershq/errkit/jobs"
)

// pageTemplate is the errors page: the contract's prose, in its layout, with
// the tables, the lists of values and the examples filled in from the code.
//
//go:embed errors.md.tmpl
var pageTemplate string

// pageHeadings are the page's sections of codes, one per category, in the
// page's order.
var pageHeadings = []struct {
	category apierror.Category
	heading  string
}{
	{apierror.CategoryCallerBug, "Caller bugs - fix the request"},
	{apierror.CategoryPolicyGate, "Policy gates - change state, then retry"},
	{apierror.CategoryTransient, "Transient - retry with backoff"},
	{apierror.CategoryUpstream, "Upstream - platform rejected us"},
}

// jobPathCode is the code the page describes under "Job failures" rather
// than in a table.
const jobPathCode = apierror.CodeWorkflowStartFailed

// pageMeaning is the page's "What happened" where it says more, or less,
// than the catalogue's Meaning, which must stand alone in catalogue.json and
// the Go docs: INTERNAL quotes its fixed message in the cell, and
// PLATFORM_ERROR's cell leaves the platforms and the null retryAfterMs to
// the prose around its table.
var pageMeaning = map[apierror.Code]string{
	apierror.CodeInternal: "We broke. requestId lets us find it. The message is intentionally generic (\"" +
		apierror.InternalMessage + "\") — server-side details are logged against your requestId so we can " +
		"find them, but they're never round-tripped to your response.",
	apierror.CodePlatformError: "Platform API returned an error. Act on `details.platformCode`.",
}

// PageTable renders the table of one category: Code, HTTP, What happened,
// Retry?, What to check, one row per code in catalogue order.
func PageTable(specs []apierror.Spec, category apierror.Category) string {
	var b strings.Builder
	b.WriteString("| Code | HTTP | What happened | Retry? | What to check |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range specs {
		if s.Category != category || s.Code == jobPathCode {
			continue
		}
		meaning := s.Meaning
		if m, ok := pageMeaning[s.Code]; ok {
			meaning = m
		}
		b.WriteString("|")
		for _, c := range []string{string(s.Code), strconv.Itoa(s.Status), meaning, s.Retry.Text, s.Check} {
			b.WriteString(" " + cell(c) + " |")
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// pageExamples are the page's three examples, built by the code that
// answers them.
type pageExamples struct {
	Envelope, PlatformExample, JobExample []byte
	JobPath                               apierror.Spec
}

func newPageExamples() (pageExamples, error) {
	var p pageExamples
	p.Envelope = apierror.ApprovalRequired("cnt_7d18b9a1-8b2c-4f3e-a4d5-6e7f8a9b0c1d", apierror.ApprovalPending).
		Render(exampleRequestID)
	p.PlatformExample = apierror.PlatformError(apierror.PlatformTikTok, "video_duration_exceeds_limit",
		"Video duration exceeds the max for this account.", 0).
		WithMessage("TikTok rejected the upload: video too long.").
		Render(exampleRequestID)
	job := jobs.Failed(time.Date(2026, 4, 18, 14, 22, 10, 0, time.UTC), apierror.ModerationBlocked("violence"), "finalizing")
	var err error
	if p.JobExample, err = json.Marshal(job); err != nil {
		return p, fmt.Errorf("docgen: job example: %w", err)
	}
	var ok bool
	if p.JobPath, ok = apierror.Lookup(jobPathCode); !ok {
		return p, fmt.Errorf("docgen: %s is not in the catalogue", jobPathCode)
	}
	return p, nil
}

// indentJSON is raw indented by two spaces, as the page shows JSON.
func indentJSON(raw []byte) (string, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Page returns docs/errors.md.
func Page() ([]byte, error) {
	specs := apierror.Catalogue()
	data, err := newPageExamples()
	if err != nil {
		return nil, err
	}
	headings := map[apierror.Category]bool{}
	for _, h := range pageHeadings {
		headings[h.category] = true
	}
	for _, s := range specs {
		if !headings[s.Category] {
			return nil, fmt.Errorf("docgen: the page has no section for category %q of %s", s.Category, s.Code)
		}
	}
	platforms := make([]string, 0, 5)
	for _, p := range apierror.Platforms() {
		platforms = append(platforms, "`"+string(p)+"`")
	}
	tmpl, err := template.New("errors.md").Option("missingkey=error").Funcs(template.FuncMap{
		"notice":    func() string { return generatedNotice },
		"json":      indentJSON,
		"platforms": func() string { return strings.Join(platforms, ", ") },
		"table": func(category string) string {
			return PageTable(specs, apierror.Category(category))
		},
		"heading": func(category string) (string, error) {
			for _, h := range pageHeadings {
				if string(h.category) == category {
					return "## " + h.heading, nil
				}
			}
			return "", fmt.Errorf("docgen: no heading for category %q", category)
		},
	}).Parse(pageTemplate)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
