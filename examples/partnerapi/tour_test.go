package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/ratelimit"
)

// The curl tour of README.md is executable: TestTour reads the section
// tourHeading, starts the demo in-process with the flags of the section's
// first ```sh block (the tour's `go run` command), runs every later ```sh
// block, one curl command each, with net/http, and compares the answer
// with the ```http block that follows it: the status line, the headers of
// tourHeaders in wire order, and the body. It does so on every framework
// of the frameworks map, so the README holds for all of them.
//
// What may differ between the README's run and the test's, and how each is
// normalised (nothing else is):
//
//   - request IDs (req_ + 26 Crockford base32 characters), container IDs and
//     job IDs (cnt_/job_ + a UUID) are random per run. Each documented ID is
//     bound to the actual ID at the same position the first time it appears,
//     and must stand for that same ID everywhere after: a requestId must
//     equal its X-Request-Id, a replay must return the created container,
//     and a later command naming a documented ID is sent with the bound one.
//   - RFC 3339 timestamps (a kill switch's "at", a job's "finishedAt") are
//     replaced by a placeholder on both sides.
//   - details.retryAfterMs counts milliseconds from the moment of the
//     request, so it is compared only for fitting the response's own
//     Retry-After, the same wait rounded up to whole seconds (which is
//     compared exactly): (Retry-After - 1) * 1000 < retryAfterMs <=
//     Retry-After * 1000, on both sides.
//   - Date, Content-Length, Cache-Control and X-Content-Type-Options are not
//     in the documented subset, so neither side shows them.
//
// The rate limiter and the kill switches run on a frozen clock, so that
// nothing refills and the RateLimit t= and Retry-After values are those of
// a run that takes no time, however slow the machine. The README's outputs
// come from a run of the steps back to back, each bucket's calls within one
// second and far inside one token of its rates (one per 1000 s), so its
// whole-second values are the same. Jobs finish after 1ms instead of 500ms, and a step that reads
// a job first waits for the worker's log line that says the job finished.
// A body may be cut short in the README with a final "…": then the actual
// body must start with the text before it.

// tourFile is the README holding the tour, in this package's directory.
const tourFile = "README.md"

// tourHeading starts the tour's section; the next "## " heading ends it.
const tourHeading = "## A tour with curl"

// tourHeaders are the response headers the tour shows, when present, in
// the order net/http's server writes them (sorted by canonical name). The
// rest (Date, Content-Length, Cache-Control, X-Content-Type-Options) is
// left out of the README.
var tourHeaders = []string{
	"Allow", "Content-Type", "Idempotent-Replayed", "Location",
	"Ratelimit", "Ratelimit-Policy", "Retry-After", "X-Request-Id",
}

// tourCovers is what the tour must show at least once, so that it cannot
// shrink silently: the codes (and headers) the README promises to cover.
var tourCovers = []string{
	`"code":"UNAUTHENTICATED"`, `"code":"FORBIDDEN_SCOPE"`, `"code":"IDEMPOTENCY_CONFLICT"`,
	`"code":"VALIDATION"`, `"code":"NOT_FOUND"`, `"code":"RATE_LIMITED"`, `"code":"KILL_SWITCH"`,
	`"code":"INTERNAL"`, `"code":"MODERATION_BLOCKED"`, `"guaranteedDetails": []`,
	"\nIdempotent-Replayed: true\n", "\nAllow: ", "\nRetry-After: ", "HTTP/1.1 204 No Content\n",
}

// tourStep is one step of the tour: a curl command and its documented
// output.
type tourStep struct {
	line    int    // line of the ```sh block in the README, for messages
	command string // the block's text
	want    string // the ```http block's text, ending in a newline
}

// tourSetup is the tour's server, from its `go run` command.
type tourSetup struct {
	cfg  Config
	base string // the BASE the commands use
}

// TestTour runs the README's curl tour against the demo on every framework
// and requires the documented output, step by step.
func TestTour(t *testing.T) {
	md, err := os.ReadFile(tourFile)
	require.NoError(t, err)
	setup, steps, err := parseTour(string(md))
	require.NoError(t, err, "%s: the tour's section %q", tourFile, tourHeading)
	require.NotEmpty(t, steps, "%s: the tour has no steps", tourFile)
	var all strings.Builder
	for _, s := range steps {
		all.WriteString(s.want)
	}
	for _, c := range tourCovers {
		require.Contains(t, all.String(), c, "%s: the tour no longer shows %q", tourFile, c)
	}

	require.True(t, slices.IsSorted(tourHeaders), "tourHeaders must be in wire order")
	frameworks := frameworkNames()
	require.NotEmpty(t, frameworks)
	for _, fw := range frameworks {
		t.Run(fw, func(t *testing.T) {
			t.Parallel()
			run := startTour(t, fw, setup.cfg)
			for _, s := range steps {
				run.step(t, setup, s)
			}
		})
	}
}

// tourRun is the tour running against one server.
type tourRun struct {
	url    string
	logs   *tourLogs
	client *http.Client
	ids    *tourBinder
}

// startTour starts New(cfg) on framework behind a loopback listener, with the
// frozen clock and fast jobs this file's first comment describes.
func startTour(t *testing.T, framework string, cfg Config) *tourRun {
	t.Helper()
	frozen := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	logs := &tourLogs{}
	cfg.Framework = framework
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.JobDelay = time.Millisecond
	cfg.now = func() time.Time { return frozen }
	srv, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	// One connection per command and no transparent gzip, as curl does;
	// no redirects followed (curl without -L).
	transport := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{
		Transport:     transport,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &tourRun{url: hs.URL, logs: logs, client: client, ids: newTourBinder()}
}

// tourJobPath is the path of a job; a step reading one waits for the job to
// finish first.
var tourJobPath = regexp.MustCompile(`^/v1/jobs/(job_[^/?#]+)`)

// step runs one step and requires its documented output.
func (r *tourRun) step(t *testing.T, setup tourSetup, s tourStep) {
	t.Helper()
	where := fmt.Sprintf("%s:%d", tourFile, s.line)
	command, err := r.ids.sendable(s.command)
	require.NoError(t, err, "%s: %s", where, s.command)
	req, err := parseCurl(command, setup.base, r.url)
	require.NoError(t, err, "%s: %s", where, s.command)

	if m := tourJobPath.FindStringSubmatch(strings.TrimPrefix(req.url, r.url)); m != nil {
		require.Eventually(t, func() bool { return r.logs.jobFinished(m[1]) }, 5*time.Second, time.Millisecond,
			"%s: job %s never finished", where, m[1])
	}

	got := r.do(t, req)
	want, gotNorm, err := compareTour(s.want, got, r.ids)
	require.NoError(t, err, "%s: %s", where, s.command)
	require.Equal(t, want, gotNorm, "%s: %s\n\nthe actual output, normalised:\n%s", where, s.command, gotNorm)

	// The comparison is not vacuous: one byte changed in the status line
	// or at the end of the documented output fails it.
	for _, mutated := range mutateTour(s.want) {
		want, gotNorm, err := compareTour(mutated, got, r.ids.clone())
		require.True(t, err != nil || want != gotNorm, "%s: a changed byte went unnoticed:\n%s", where, mutated)
	}
}

// do sends req and renders the answer as the README shows `curl -si`
// output: the status line, the documented headers, a blank line, the body.
func (r *tourRun) do(t *testing.T, req tourRequest) string {
	t.Helper()
	var body io.Reader
	if req.hasBody {
		body = strings.NewReader(req.body)
	}
	hr, err := http.NewRequest(req.method, req.url, body)
	require.NoError(t, err)
	hr.Header = req.header
	resp, err := r.client.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return renderTour(resp, b)
}

// renderTour renders a response as the README shows it. A body that does
// not end in a newline gets one: a Markdown block cannot show the
// difference.
func renderTour(resp *http.Response, body []byte) string {
	var b strings.Builder
	b.WriteString(resp.Proto + " " + resp.Status + "\n")
	for _, name := range tourHeaders {
		for _, v := range resp.Header[name] {
			b.WriteString(name + ": " + v + "\n")
		}
	}
	if len(body) > 0 {
		b.WriteString("\n")
		b.Write(body)
		if body[len(body)-1] != '\n' {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Per-run values (see this file's first comment).
var (
	tourIDPattern   = regexp.MustCompile(`req_[0-9A-HJKMNP-TV-Z]{26}|(?:cnt|job)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	tourTimePattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`)
	tourRetryMs     = regexp.MustCompile(`"retryAfterMs":(\d+)`)
	tourRetryAfter  = regexp.MustCompile(`(?m)^Retry-After: (\d+)$`)
)

// tourElision ends a documented body that is cut short.
const tourElision = "…"

// compareTour normalises a documented output and an actual one (binding
// IDs in ids) and returns both, to be compared for equality. An error says
// why they cannot be compared at all.
func compareTour(want, got string, ids *tourBinder) (string, string, error) {
	var err error
	for _, side := range []*string{&want, &got} {
		*side = tourTimePattern.ReplaceAllString(*side, "<RFC 3339 time>")
		if *side, err = normaliseRetryMs(*side); err != nil {
			return "", "", err
		}
	}
	// A body cut short is cut first, so that IDs past the cut (the
	// catalogue's examples) do not count when IDs are bound.
	if _, wb, _ := strings.Cut(want, "\n\n"); strings.HasSuffix(wb, tourElision+"\n") {
		cut := strings.TrimSuffix(wb, tourElision+"\n")
		gotHead, gotBody, _ := strings.Cut(got, "\n\n")
		if strings.HasPrefix(gotBody, cut) && len(gotBody) > len(cut)+1 {
			got = gotHead + "\n\n" + cut + tourElision + "\n"
		}
	}
	if got, err = ids.bind(want, got); err != nil {
		return "", "", err
	}
	wantHead, _, _ := strings.Cut(want, "\n\n")
	for _, line := range strings.Split(strings.TrimSuffix(wantHead, "\n"), "\n")[1:] {
		name, _, ok := strings.Cut(line, ": ")
		if !ok || !slices.Contains(tourHeaders, name) {
			return "", "", fmt.Errorf("the README shows header line %q: only %s are shown, as `Name: value`", line, strings.Join(tourHeaders, ", "))
		}
	}
	return want, got, nil
}

// normaliseRetryMs replaces every details.retryAfterMs of out that fits
// out's Retry-After by a placeholder; one that does not fit is an error.
// Without a Retry-After the value stays, to be compared exactly.
func normaliseRetryMs(out string) (string, error) {
	m := tourRetryAfter.FindStringSubmatch(out)
	if m == nil {
		return out, nil
	}
	secs, _ := strconv.ParseInt(m[1], 10, 64)
	var bad error
	out = tourRetryMs.ReplaceAllStringFunc(out, func(s string) string {
		ms, _ := strconv.ParseInt(tourRetryMs.FindStringSubmatch(s)[1], 10, 64)
		if ms <= (secs-1)*1000 || ms > secs*1000 || ms <= 0 {
			bad = fmt.Errorf("retryAfterMs %d does not fit Retry-After %d", ms, secs)
			return s
		}
		return `"retryAfterMs":<ms within Retry-After>`
	})
	return out, bad
}

// mutateTour returns want with one byte changed: the first digit of the
// status code, and the last byte before the final newline (or before the
// elision mark).
func mutateTour(want string) []string {
	change := func(i int) string {
		c := byte('~')
		if want[i] == c {
			c = '^'
		}
		return want[:i] + string(c) + want[i+1:]
	}
	last := len(want) - 2
	if strings.HasSuffix(want, tourElision+"\n") {
		last = len(want) - len(tourElision) - 2
	}
	out := []string{change(last)}
	if i := strings.IndexByte(want, ' '); i >= 0 && i+1 < len(want) {
		out = append(out, change(i+1))
	}
	return out
}

// tourBinder binds the per-run IDs of the README's run to those of the
// test's, one to one.
type tourBinder struct {
	docToRun, runToDoc map[string]string
}

func newTourBinder() *tourBinder {
	return &tourBinder{docToRun: map[string]string{}, runToDoc: map[string]string{}}
}

func (b *tourBinder) clone() *tourBinder {
	c := newTourBinder()
	for k, v := range b.docToRun {
		c.docToRun[k], c.runToDoc[v] = v, k
	}
	return c
}

// bind pairs the IDs of want and got by position, binding new ones and
// requiring bound ones to stand for the same ID again, and returns got with
// every ID replaced by its documented counterpart. When the two do not
// hold as many IDs, got is returned as it is: the comparison shows why.
func (b *tourBinder) bind(want, got string) (string, error) {
	docIDs := tourIDPattern.FindAllString(want, -1)
	runIDs := tourIDPattern.FindAllString(got, -1)
	if len(docIDs) != len(runIDs) {
		return got, nil
	}
	for i, d := range docIDs {
		a := runIDs[i]
		if d[:4] != a[:4] {
			return "", fmt.Errorf("ID %d: the README shows %s where the server sent %s", i+1, d, a)
		}
		if bound, ok := b.docToRun[d]; ok && bound != a {
			return "", fmt.Errorf("the README's %s stood for %s earlier, and for %s here", d, bound, a)
		}
		if bound, ok := b.runToDoc[a]; ok && bound != d {
			return "", fmt.Errorf("the server's %s was the README's %s earlier, and is %s here", a, bound, d)
		}
		b.docToRun[d], b.runToDoc[a] = a, d
	}
	return tourIDPattern.ReplaceAllStringFunc(got, func(a string) string { return b.runToDoc[a] }), nil
}

// sendable replaces the documented IDs in a command by the bound ones. A
// command may only name IDs an earlier response returned.
func (b *tourBinder) sendable(command string) (string, error) {
	var err error
	out := tourIDPattern.ReplaceAllStringFunc(command, func(d string) string {
		a, ok := b.docToRun[d]
		if !ok {
			err = fmt.Errorf("the command names %s, which no earlier step's output shows", d)
			return d
		}
		return a
	})
	return out, err
}

// tourLogs collects the server's JSON log lines.
type tourLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *tourLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// jobFinished reports whether the worker logged that job id finished: it
// logs after recording the job's final state.
func (l *tourLogs) jobFinished(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, `"jobId":"`+id+`"`) &&
			(strings.Contains(line, `"msg":"job failed"`) || strings.Contains(line, `"msg":"job succeeded"`)) {
			return true
		}
	}
	return false
}

// parseTour reads the tour's section of a README: its first ```sh block
// starts the server, every later ```sh block is one step whose output is
// the ```http block that follows it. Other blocks (```json log lines) may
// stand between steps, never between a command and its output.
func parseTour(md string) (tourSetup, []tourStep, error) {
	lines := strings.Split(md, "\n")
	start := slices.Index(lines, tourHeading)
	if start < 0 {
		return tourSetup{}, nil, fmt.Errorf("no line %q", tourHeading)
	}
	type block struct {
		line       int
		info, text string
	}
	var blocks []block
	for i := start + 1; i < len(lines) && !strings.HasPrefix(lines[i], "## "); i++ {
		info, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := block{line: i + 1, info: info}
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			b.text += lines[i] + "\n"
		}
		if i == len(lines) {
			return tourSetup{}, nil, fmt.Errorf("line %d: unterminated ``` block", b.line)
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 || blocks[0].info != "sh" {
		return tourSetup{}, nil, errors.New("the first block must be the ```sh block that starts the tour's server")
	}
	setup, err := parseTourSetup(blocks[0].text)
	if err != nil {
		return tourSetup{}, nil, fmt.Errorf("line %d: %w", blocks[0].line, err)
	}
	var steps []tourStep
	for i := 1; i < len(blocks); i++ {
		b := blocks[i]
		switch b.info {
		case "sh":
			if i+1 == len(blocks) || blocks[i+1].info != "http" {
				return tourSetup{}, nil, fmt.Errorf("line %d: a ```sh step must be followed by its ```http output", b.line)
			}
			steps = append(steps, tourStep{line: b.line, command: strings.TrimSuffix(b.text, "\n"), want: blocks[i+1].text})
			i++
		case "http":
			return tourSetup{}, nil, fmt.Errorf("line %d: a ```http output must follow a ```sh step", b.line)
		}
	}
	return setup, steps, nil
}

// parseTourSetup reads the block that starts the tour's server: one
// `go run ./examples/partnerapi` line with the flags that shape the wire,
// and the BASE=... the commands use. Flags the test cannot honour are
// refused: -framework (the tour runs on every framework) and -redis (the
// tour is in memory).
func parseTourSetup(text string) (tourSetup, error) {
	var args []string
	base := ""
	goRun := false
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case len(fields) >= 3 && fields[0] == "go" && fields[1] == "run" && fields[2] == "./examples/partnerapi":
			args, goRun = fields[3:], true
		case len(fields) == 1 && strings.HasPrefix(fields[0], "BASE="):
			base = strings.TrimPrefix(fields[0], "BASE=")
		default:
			return tourSetup{}, fmt.Errorf("unexpected line %q: want `go run ./examples/partnerapi [flags]` and `BASE=<url>`", line)
		}
	}
	if !goRun || base == "" {
		return tourSetup{}, errors.New("want a `go run ./examples/partnerapi [flags]` line and a `BASE=<url>` line")
	}
	fs := flag.NewFlagSet("partnerapi", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:8080", "")
	readRate := fs.Float64("read-rate", ratelimit.DefaultReadRate.PerSecond, "")
	readBurst := fs.Float64("read-burst", float64(ratelimit.DefaultReadRate.Burst), "")
	writeRate := fs.Float64("write-rate", ratelimit.DefaultWriteRate.PerSecond, "")
	writeBurst := fs.Float64("write-burst", float64(ratelimit.DefaultWriteRate.Burst), "")
	admin := fs.String("admin-token", "", "") // as the binary: random unless given
	accessLog := fs.Bool("access-log", true, "")
	if err := fs.Parse(args); err != nil {
		return tourSetup{}, fmt.Errorf("go run flags %q: %w (the tour test honours -addr -read-rate -read-burst -write-rate -write-burst -admin-token -access-log)", args, err)
	}
	if fs.NArg() > 0 {
		return tourSetup{}, fmt.Errorf("go run: unexpected arguments %q", fs.Args())
	}
	if want := "http://" + *addr; base != want {
		return tourSetup{}, fmt.Errorf("BASE=%s, but the server listens on %s", base, want)
	}
	read, err := rate(*readRate, *readBurst)
	if err != nil {
		return tourSetup{}, err
	}
	write, err := rate(*writeRate, *writeBurst)
	if err != nil {
		return tourSetup{}, err
	}
	return tourSetup{
		cfg:  Config{ReadRate: read, WriteRate: write, AdminToken: *admin, AccessLog: *accessLog},
		base: base,
	}, nil
}

// tourRequest is a request a tour command sends.
type tourRequest struct {
	method, url string
	header      http.Header
	body        string
	hasBody     bool
}

// parseCurl parses one tour command: `curl -si URL` with -X METHOD,
// -H 'Name: value' and one -d or --data-binary BODY, in the shell's
// quoting, where $BASE (the README's) is replaced by url (the test
// server's). Anything else is an error, so that the README cannot rely on
// something the test does not run. As curl does, a body without -X is a
// POST, and a body without a Content-Type header is sent as
// application/x-www-form-urlencoded.
func parseCurl(command, base, url string) (tourRequest, error) {
	words, err := tourShellWords(command, url)
	if err != nil {
		return tourRequest{}, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return tourRequest{}, errors.New("a tour step is one curl command")
	}
	req := tourRequest{header: http.Header{}}
	silent, include := false, false
	for i := 1; i < len(words); i++ {
		w := words[i]
		value := func() (string, error) {
			if i+1 == len(words) {
				return "", fmt.Errorf("curl %s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch w {
		case "-s", "-i", "-si", "-is":
			silent = silent || strings.Contains(w, "s")
			include = include || strings.Contains(w, "i")
		case "-X":
			if req.method, err = value(); err != nil {
				return tourRequest{}, err
			}
		case "-H":
			h, err := value()
			if err != nil {
				return tourRequest{}, err
			}
			name, v, ok := strings.Cut(h, ":")
			v = strings.TrimSpace(v)
			if !ok || name == "" || strings.TrimSpace(name) != name || v == "" {
				return tourRequest{}, fmt.Errorf("curl -H %q: want 'Name: value'", h)
			}
			req.header.Add(name, v)
		case "-d", "--data-binary":
			d, err := value()
			if err != nil {
				return tourRequest{}, err
			}
			if req.hasBody {
				return tourRequest{}, fmt.Errorf("curl %s: one body per command", w)
			}
			if strings.HasPrefix(d, "@") {
				return tourRequest{}, fmt.Errorf("curl %s %q: bodies from files are not supported", w, d)
			}
			req.body, req.hasBody = d, true
		default:
			if strings.HasPrefix(w, "-") {
				return tourRequest{}, fmt.Errorf("curl flag %q is not supported by the tour test (use -s -i -X -H -d --data-binary)", w)
			}
			if req.url != "" {
				return tourRequest{}, fmt.Errorf("curl: a second URL %q", w)
			}
			req.url = w
		}
	}
	if !silent || !include {
		return tourRequest{}, errors.New("a tour command runs curl -si: -s without a progress meter, -i with the headers")
	}
	if !strings.HasPrefix(req.url, url+"/") {
		return tourRequest{}, fmt.Errorf("curl URL %q: want $BASE/... (BASE=%s)", req.url, base)
	}
	if req.method == "" {
		req.method = http.MethodGet
		if req.hasBody {
			req.method = http.MethodPost
		}
	}
	if req.hasBody && req.header.Get("Content-Type") == "" {
		req.header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.header.Get("Accept") == "" {
		req.header.Set("Accept", "*/*")
	}
	if req.header.Get("User-Agent") == "" {
		req.header.Set("User-Agent", "curl")
	}
	return req, nil
}

// tourShellWords splits a command into words as a POSIX shell would, for
// the subset the tour uses: blanks, '…' and "…" quoting, backslash escapes
// and line continuations, and $BASE (or ${BASE}), replaced by base. Every
// other expansion and operator (pipes, redirections, ;, &, globs,
// $(…), other variables) is an error.
func tourShellWords(s, base string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	expand := func(rest string) (int, error) {
		switch {
		case strings.HasPrefix(rest, "${BASE}"):
			cur.WriteString(base)
			return len("${BASE}"), nil
		case strings.HasPrefix(rest, "$BASE") && !tourIdentChar(rest, len("$BASE")):
			cur.WriteString(base)
			return len("$BASE"), nil
		}
		return 0, fmt.Errorf("shell expansion at %q: only $BASE is expanded", rest[:min(len(rest), 12)])
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i++
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i == len(s) {
					return nil, errors.New(`unterminated "`)
				}
				if s[i] == '"' {
					break
				}
				switch s[i] {
				case '\\':
					if i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
						i++
						if s[i] != '\n' {
							cur.WriteByte(s[i])
						}
					} else {
						cur.WriteByte('\\')
					}
				case '$':
					n, err := expand(s[i:])
					if err != nil {
						return nil, err
					}
					i += n - 1
				case '`':
					return nil, errors.New("command substitution is not supported")
				default:
					cur.WriteByte(s[i])
				}
			}
		case c == '$':
			n, err := expand(s[i:])
			if err != nil {
				return nil, err
			}
			i += n - 1
			inWord = true
		case c == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			inWord = true
		case strings.IndexByte("|&;<>()`*?[]{}~#!", c) >= 0:
			return nil, fmt.Errorf("shell syntax %q is not supported in a tour command", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// tourIdentChar reports whether s[i] continues a shell variable name.
func tourIdentChar(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// TestTourCurlSyntax pins what a tour command may say: the restricted curl
// and shell syntax is run as curl would run it, and anything outside it
// fails with a message that names it.
func TestTourCurlSyntax(t *testing.T) {
	const base, url = "http://127.0.0.1:8080", "http://127.0.0.1:4321"
	tests := []struct {
		name    string
		command string
		method  string
		url     string
		header  http.Header // the headers the command sets, with curl's defaults
		body    string      // "" for none
		err     string      // a substring of the error; "" for none
	}{
		{name: "GET", command: `curl -si "$BASE/v1/whoami" -H 'Authorization: Bearer lp_demo_full'`,
			method: "GET", url: url + "/v1/whoami",
			header: http.Header{"Authorization": {"Bearer lp_demo_full"}, "Accept": {"*/*"}, "User-Agent": {"curl"}}},
		{name: "flags apart, braces", command: `curl -s -i ${BASE}/v1/errors`, method: "GET", url: url + "/v1/errors",
			header: http.Header{"Accept": {"*/*"}, "User-Agent": {"curl"}}},
		{name: "body is a POST", command: "curl -is \"$BASE/v1/projects/prj_auto/content\" \\\n  -H 'Content-Type: application/json' -d '{\"hook\":\"x\"}'",
			method: "POST", url: url + "/v1/projects/prj_auto/content", body: `{"hook":"x"}`,
			header: http.Header{"Content-Type": {"application/json"}, "Accept": {"*/*"}, "User-Agent": {"curl"}}},
		{name: "body without Content-Type is a form, as in curl", command: `curl -si -X PUT "$BASE/admin/x" --data-binary '{}'`,
			method: "PUT", url: url + "/admin/x", body: `{}`,
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"*/*"}, "User-Agent": {"curl"}}},
		{name: "escapes in double quotes", command: `curl -si "$BASE/v1/x" -d "{\"a\":\"\$5\"}" -H "Content-Type: application/json"`,
			method: "POST", url: url + "/v1/x", body: `{"a":"$5"}`,
			header: http.Header{"Content-Type": {"application/json"}, "Accept": {"*/*"}, "User-Agent": {"curl"}}},

		{name: "unsupported flag", command: `curl -si -L "$BASE/v1/whoami"`, err: `curl flag "-L" is not supported`},
		{name: "unsupported long flag", command: `curl -si --json '{}' "$BASE/v1/whoami"`, err: `curl flag "--json" is not supported`},
		{name: "bundled unsupported flag", command: `curl -siL "$BASE/v1/whoami"`, err: `curl flag "-siL" is not supported`},
		{name: "no -i", command: `curl -s "$BASE/v1/whoami"`, err: "curl -si"},
		{name: "not curl", command: `wget "$BASE/v1/whoami"`, err: "one curl command"},
		{name: "pipe", command: `curl -si "$BASE/v1/errors" | jq .`, err: `shell syntax '|'`},
		{name: "two commands", command: `curl -si "$BASE/a"; curl -si "$BASE/b"`, err: `shell syntax ';'`},
		{name: "other variable", command: `curl -si "$HOST/v1/whoami"`, err: "only $BASE is expanded"},
		{name: "command substitution", command: `curl -si "$(echo x)"`, err: "only $BASE is expanded"},
		{name: "body from a file", command: `curl -si "$BASE/v1/x" -d @body.json`, err: "bodies from files"},
		{name: "two bodies", command: `curl -si "$BASE/v1/x" -d a -d b`, err: "one body per command"},
		{name: "header without value", command: `curl -si "$BASE/v1/x" -H 'Accept:'`, err: "want 'Name: value'"},
		{name: "flag without value", command: `curl -si "$BASE/v1/x" -H`, err: "needs a value"},
		{name: "another host", command: `curl -si http://example.com/v1/whoami`, err: "want $BASE/..."},
		{name: "unterminated quote", command: `curl -si "$BASE/v1/x`, err: `unterminated "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseCurl(tt.command, base, url)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.method, req.method)
			require.Equal(t, tt.url, req.url)
			require.Equal(t, tt.header, req.header)
			require.Equal(t, tt.body != "", req.hasBody)
			require.Equal(t, tt.body, req.body)
		})
	}
}
