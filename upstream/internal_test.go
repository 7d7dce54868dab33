package upstream

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/apierror"
)

// TestRefusal pins the address policy, one row per range.
func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		addr      string
		refused   bool // without the loopback opt-in
		loopback  bool // allowed with it
		reasonHas string
	}{
		{"93.184.216.34", false, false, ""},
		{"8.8.8.8", false, false, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", false, false, ""},
		{"127.0.0.1", true, true, "loopback"},
		{"127.255.255.254", true, true, "loopback"},
		{"::1", true, true, "loopback"},
		{"::ffff:127.0.0.1", true, true, "loopback"},
		{"10.0.0.1", true, false, "RFC 1918"},
		{"172.16.0.1", true, false, "RFC 1918"},
		{"172.31.255.255", true, false, "RFC 1918"},
		{"172.32.0.1", false, false, ""},
		{"192.168.10.10", true, false, "RFC 1918"},
		{"169.254.169.254", true, false, "cloud metadata"},
		{"fe80::1", true, false, "link-local"},
		{"fe80::1%eth0", true, false, "link-local"},
		{"fc00::1", true, false, "unique local"},
		{"fd00:ec2::254", true, false, "unique local"},
		{"0.0.0.0", true, false, "unspecified"},
		{"::", true, false, "unspecified"},
		{"224.0.0.1", true, false, "multicast"},
		{"ff02::1", true, false, "multicast"},
		{"255.255.255.255", true, false, "reserved"},
		{"100.64.0.1", true, false, "shared address space"},
		{"198.18.0.1", true, false, "benchmarking"},
		{"192.0.2.1", true, false, "documentation"},
		{"::ffff:10.0.0.1", true, false, "RFC 1918"},
		{"::ffff:169.254.169.254", true, false, "link-local"},
		{"64:ff9b::a9fe:a9fe", true, false, "NAT64"},
		{"64:ff9b::808:808", false, false, ""},
		{"2002:a9fe:a9fe::1", true, false, "6to4"},
		{"2002:808:808::1", false, false, ""},
		{"::127.0.0.1", true, false, "IPv4-compatible"},
		{"2001::1", true, false, "Teredo"},
		{"fec0::1", true, false, "site-local"},
	} {
		a := netip.MustParseAddr(tc.addr)
		r := refusal(a, false)
		assert.Equal(t, tc.refused, r != "", "%s: %q", tc.addr, r)
		assert.Contains(t, r, tc.reasonHas, tc.addr)
		assert.Equal(t, tc.refused && !tc.loopback, refusal(a, true) != "", "%s with AllowLoopback", tc.addr)
	}
	assert.NotEmpty(t, refusal(netip.Addr{}, true), "the zero address")
}

// TestParseHostIP reads every numeric spelling of an address the way a
// browser (WHATWG URL) and inet_aton do.
func TestParseHostIP(t *testing.T) {
	for _, tc := range []struct {
		host string
		want string // "" for a name; "error" for a malformed number
	}{
		{"127.0.0.1", "127.0.0.1"}, {"2130706433", "127.0.0.1"}, {"0x7f000001", "127.0.0.1"},
		{"0X7F000001", "127.0.0.1"}, {"127.1", "127.0.0.1"}, {"0177.0.0.1", "127.0.0.1"},
		{"0x7f.0.0.1", "127.0.0.1"}, {"127.0.1", "127.0.0.1"}, {"017700000001", "127.0.0.1"},
		{"127.000.000.001", "127.0.0.1"}, {"127.0.0.1.", "127.0.0.1"}, {"0xa9fea9fe", "169.254.169.254"},
		{"3232235777", "192.168.1.1"}, {"0", "0.0.0.0"}, {"0x", "0.0.0.0"}, {"10.1", "10.0.0.1"},
		{"::1", "::1"}, {"fe80::1%eth0", "fe80::1%eth0"}, {"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
		{"example.com", ""}, {"media.test", ""}, {"1.example", ""}, {"0x7f.example", ""}, {"deadbeef", ""},
		{"256.0.0.1", "error"}, {"1.2.3.4.5", "error"}, {"4294967296", "error"}, {"1.2.65536", "error"},
		{"08.0.0.1", "error"}, {"0x1g.0.0.1", ""},
	} {
		a, ok, err := parseHostIP(tc.host)
		switch tc.want {
		case "error":
			assert.Error(t, err, tc.host)
		case "":
			assert.NoError(t, err, tc.host)
			assert.False(t, ok, tc.host)
		default:
			require.NoError(t, err, tc.host)
			require.True(t, ok, tc.host)
			assert.Equal(t, tc.want, a.String(), tc.host)
		}
	}
}

// TestControlGuard: the default dialer's last check refuses by socket
// address, without connecting.
func TestControlGuard(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"93.184.216.34:443", false, true}, {"10.0.0.1:80", true, false}, {"127.0.0.1:80", false, false},
		{"127.0.0.1:80", true, true}, {"[::ffff:169.254.169.254]:80", true, false}, {"[fd00::1]:443", true, false},
		{"not an address", true, false},
	} {
		err := controlGuard(tc.allow)("tcp", tc.addr, nil)
		assert.Equal(t, tc.ok, err == nil, "%s allow=%v: %v", tc.addr, tc.allow, err)
	}
}

// TestSignatureExpiry reads each signed-URL style.
func TestSignatureExpiry(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // RFC 3339, or "" for not a signed URL
	}{
		{"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260418T130000Z&X-Amz-Expires=900&X-Amz-Signature=s", "2026-04-18T13:15:00Z"},
		{"https://b.s3.amazonaws.com/k?x-amz-date=20260418T130000Z&x-amz-expires=604800", "2026-04-25T13:00:00Z"},
		{"https://storage.googleapis.com/b/k?X-Goog-Date=20260418T120000Z&X-Goog-Expires=3600&X-Goog-Signature=s", "2026-04-18T13:00:00Z"},
		{"https://b.s3.amazonaws.com/k?AWSAccessKeyId=A&Expires=1776517200&Signature=s", "2026-04-18T13:00:00Z"},
		{"https://d.cloudfront.net/k?Expires=1776517200&Signature=s&Key-Pair-Id=K", "2026-04-18T13:00:00Z"},
		{"https://b.s3.amazonaws.com/k?X-Amz-Date=20260418T130000Z&X-Amz-Expires=604801", ""}, // over 7 days: not SigV4
		{"https://b.s3.amazonaws.com/k?X-Amz-Date=yesterday&X-Amz-Expires=900", ""},
		{"https://b.s3.amazonaws.com/k?X-Amz-Expires=900", ""},
		{"https://b.s3.amazonaws.com/k?Expires=1776517200", ""},
		{"https://b.s3.amazonaws.com/k?Expires=soon&Signature=s", ""},
		{"https://cdn.example.com/a.png", ""},
	} {
		u, err := url.Parse(tc.url)
		require.NoError(t, err)
		exp, ok := signatureExpiry(u)
		if tc.want == "" {
			assert.False(t, ok, tc.url)
			continue
		}
		require.True(t, ok, tc.url)
		assert.Equal(t, tc.want, exp.UTC().Format(time.RFC3339), tc.url)
	}
	assert.True(t, expiredBody([]byte(`<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>`)))
	assert.True(t, expiredBody([]byte(`<Error><Code>ExpiredToken</Code></Error>`)))
	assert.False(t, expiredBody([]byte(`<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)))
	assert.False(t, expiredBody([]byte(`<Error><Code>NoSuchKey</Code></Error>`)))
	assert.False(t, expiredBody([]byte(`<Error><Code>ExpiredToken`)))
}

// TestSanitizeMessage pins what a platform's message may carry to our
// caller.
func TestSanitizeMessage(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		secrets  []string
		max      int
	}{
		{"Plain message.", "Plain message.", nil, 100},
		{"  line one\r\nline two\t\x00end\x7f  ", "line one line two end", nil, 100},
		{"\u202eevil\u202c \u2066x\u2069 \u200fy", "evil x y", nil, 100},
		{"token abc123456 leaked twice abc123456", "token [redacted] leaked twice [redacted]", []string{"abc123456"}, 100},
		{"auth Bearer\tabc123456", "auth [redacted]", []string{"Bearer abc123456"}, 100},
		{"see https://u:p@graph.example.com/v1/me?access_token=zzz#f then http://x.test/a?b", "see https://graph.example.com/v1/me then http://x.test/a", nil, 100},
		{"url \"https://x.test/p?t=1\" quoted", "url \"https://x.test/p\" quoted", nil, 100},
		{"HTTPS://EXAMPLE.COM/A?SIG=1 ok", "https://EXAMPLE.COM/A ok", nil, 100},
		{"invalid \xff utf8", "invalid \uFFFD utf8", nil, 100},
		{strings.Repeat("a", 50), strings.Repeat("a", 17) + "…", nil, 20},
		{strings.Repeat("é", 20), strings.Repeat("é", 8) + "…", nil, 20},
		{"", "", nil, 20},
	} {
		got := sanitizeMessage(tc.in, tc.secrets, tc.max)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.LessOrEqual(t, len(got), tc.max)
	}
	huge := strings.Repeat("x", 10<<20)
	assert.Len(t, sanitizeMessage(huge, nil, 300), 300)
}

// TestRedactURL: no userinfo, query or fragment, whatever the input.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@cdn.example.com/media/a.mp4?X-Amz-Signature=abc#t=1": "https://cdn.example.com/media/a.mp4",
		"https://cdn.example.com:8443/a%20b.png?x=1":                          "https://cdn.example.com:8443/a%20b.png",
		"http://[::1]:8080/x?y":                                               "http://[::1]:8080/x",
		"https://cdn.example.com":                                             "https://cdn.example.com",
		"/relative/path?token=x":                                              "/relative/path",
		"https://us er:pw@bad host/p?q":                                       "https://bad host/p",
		"user:pw@host/p?q":                                                    "host/p",
		"":                                                                    "",
	} {
		assert.Equal(t, want, RedactURL(in), in)
	}
}

// TestRetryWindow reads each platform's retry signals.
func TestRetryWindow(t *testing.T) {
	now := time.Date(2026, 4, 18, 14, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		platform apierror.Platform
		header   http.Header
		want     time.Duration
		ok       bool
	}{
		{"none", apierror.PlatformTikTok, h(), 0, false},
		{"seconds", apierror.PlatformTikTok, h("Retry-After", "5"), 5 * time.Second, true},
		{"zero seconds names no window", apierror.PlatformTikTok, h("Retry-After", "0"), 0, false},
		{"http date", apierror.PlatformMeta, h("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), 30 * time.Second, true},
		{"http date in the past", apierror.PlatformMeta, h("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0, false},
		{"garbage", apierror.PlatformMeta, h("Retry-After", "soon"), 0, false},
		{"capped", apierror.PlatformTikTok, h("Retry-After", "999999999"), DefaultMaxRetryAfter, true},
		{"appstore UNIX ms", apierror.PlatformAppStore, h("Retry-After", "1776520801500"), 1500 * time.Millisecond, true},
		{"apple UNIX ms", apierror.PlatformApple, h("Retry-After", "1776520860000"), time.Minute, true},
		{"UNIX ms means seconds elsewhere (capped)", apierror.PlatformTikTok, h("Retry-After", "1776520860000"), DefaultMaxRetryAfter, true},
		{"meta BUC minutes", apierror.PlatformMeta, h("X-Business-Use-Case-Usage", `{"1":[{"type":"pages","estimated_time_to_regain_access":0},{"type":"ads","estimated_time_to_regain_access":3}],"2":[{"estimated_time_to_regain_access":1}]}`), 3 * time.Minute, true},
		{"instagram BUC", apierror.PlatformInstagram, h("X-Business-Use-Case-Usage", `{"17841":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":1}]}`), time.Minute, true},
		{"BUC zero is no window", apierror.PlatformMeta, h("X-Business-Use-Case-Usage", `{"1":[{"call_count":10,"estimated_time_to_regain_access":0}]}`), 0, false},
		{"BUC ignored for tiktok", apierror.PlatformTikTok, h("X-Business-Use-Case-Usage", `{"1":[{"estimated_time_to_regain_access":3}]}`), 0, false},
		{"BUC garbage", apierror.PlatformMeta, h("X-Business-Use-Case-Usage", `{`), 0, false},
		{"longest wins", apierror.PlatformMeta, h("Retry-After", "30", "X-Business-Use-Case-Usage", `{"1":[{"estimated_time_to_regain_access":2}]}`), 2 * time.Minute, true},
		{"app usage is no window", apierror.PlatformMeta, h("X-App-Usage", `{"call_count":100,"total_time":20,"total_cputime":20}`), 0, false},
	} {
		d, ok := retryWindow(tc.platform, tc.header, now, DefaultMaxRetryAfter)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.want, d, tc.name)
	}
}

// TestDecodePlatformError covers the format edges the end-to-end table
// does not.
func TestDecodePlatformError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform apierror.Platform
		body     string
		code     string
		ok       bool
	}{
		{"meta code as string", apierror.PlatformMeta, `{"error":{"message":"m","code":"4"}}`, "4", true},
		{"meta body on a tiktok client", apierror.PlatformTikTok, `{"error":{"message":"m","type":"OAuthException","code":190,"fbtrace_id":"x"}}`, "190", true},
		{"tiktok body on a meta client", apierror.PlatformMeta, `{"error":{"code":"access_token_invalid","message":"m","log_id":"l"}}`, "access_token_invalid", true},
		{"server body on an apple client", apierror.PlatformApple, `{"errorCode":4000006,"errorMessage":"Invalid transaction id."}`, "4000006", true},
		{"connect body on an appstore client", apierror.PlatformAppStore, `{"errors":[{"code":"FORBIDDEN_ERROR","detail":"d"}]}`, "FORBIDDEN_ERROR", true},
		{"tiktok ok", apierror.PlatformTikTok, `{"data":{},"error":{"code":"ok","message":""}}`, "", false},
		{"empty errors", apierror.PlatformApple, `{"errors":[]}`, "", false},
		{"meta code not a number", apierror.PlatformMeta, `{"error":{"message":"m","code":1.5}}`, "", false},
		{"not json", apierror.PlatformMeta, `<html>`, "", false},
		{"truncated", apierror.PlatformMeta, `{"error":{"message":"m"`, "", false},
		{"array", apierror.PlatformMeta, `[1]`, "", false},
		{"empty", apierror.PlatformMeta, ``, "", false},
	} {
		pe, ok := decodePlatformError(tc.platform, []byte(tc.body))
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.code, pe.code, tc.name)
	}
}
