package upstream

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxMessageLength is the default cap, in bytes, of a
// platformMessage.
const DefaultMaxMessageLength = 300

// redactedMark replaces a secret of ours found in a platform's message.
const redactedMark = "[redacted]"

// sanitizeMessage makes a platform's message safe to send to our caller:
// every URL loses its query, fragment and userinfo, every secret (a value
// of our request that the platform echoed back) becomes [redacted], control
// and bidirectional-override characters become spaces, runs of spaces
// collapse, and the result is cut to max bytes (on a character boundary,
// ending in "…").
func sanitizeMessage(msg string, secrets []string, max int) string {
	if msg == "" {
		return ""
	}
	if len(msg) > 64*max { // a platform sending megabytes: only the head can survive the cap
		msg = msg[:64*max]
	}
	msg = redactSecrets(strings.ToValidUTF8(msg, "\uFFFD"), secrets)
	msg = redactURLs(msg)
	var b strings.Builder
	b.Grow(min(len(msg), max+4))
	space := true // drops leading spaces
	for _, r := range msg {
		if unicode.IsControl(r) || isBidiControl(r) || unicode.IsSpace(r) {
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(r)
		space = false
	}
	// Again: collapsing whitespace may have re-formed a secret that had a
	// space in it ("Bearer\ttoken").
	return truncate(strings.TrimRight(redactSecrets(b.String(), secrets), " "), max)
}

func redactSecrets(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redactedMark)
		}
	}
	return msg
}

// isBidiControl reports the characters that reorder text on screen, so that
// a message cannot display differently from what it says.
func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' || (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// truncate cuts s to at most max bytes on a character boundary, marking a
// cut with "…".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	n := max - len(ellipsis)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " ") + ellipsis
}

// redactURLs rewrites every http(s) URL in s to its redacted form.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := indexURL(s)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		end := i
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		b.WriteString(RedactURL(s[i:end]))
		s = s[end:]
	}
}

// indexURL finds the next "http://" or "https://", case-insensitively.
func indexURL(s string) int {
	l := strings.ToLower(s)
	i, j := strings.Index(l, "http://"), strings.Index(l, "https://")
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

func isURLEnd(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c >= 0x7f
}

// RedactURL returns raw without its userinfo, query and fragment
// ("https://user:pw@cdn.example.com/a.mp4?sig=x" becomes
// "https://cdn.example.com/a.mp4"), which is how this package names a URL
// in a message or a log: a signed URL's signature and a token in a query
// string never leave it. A string that does not parse as a URL is cut at
// its first '?' or '#' and loses anything before an '@' in its authority.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
		return r.String()
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	rest := raw
	prefix := ""
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	if strings.Contains(rest, "/") {
		return prefix + authority + "/" + path
	}
	return prefix + authority
}
