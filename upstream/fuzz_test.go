package upstream

import (
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/layershq/errkit/apierror"
)

// FuzzPlatformMessage feeds arbitrary platform error bodies, as a hostile
// or broken platform could send them: decoding never panics, and what
// would reach our caller is capped, valid UTF-8, free of control
// characters and of the secret of our request.
func FuzzPlatformMessage(f *testing.F) {
	f.Add(`{"data":{},"error":{"code":"rate_limit_exceeded","message":"slow down","log_id":"1"}}`)
	f.Add(`{"error":{"message":"Invalid token tok_SECRET_123456","type":"OAuthException","code":190,"error_subcode":460}}`)
	f.Add(`{"errors":[{"id":"1","status":"429","code":"RATE_LIMIT_EXCEEDED","title":"t","detail":"d\u0000\u202e"}]}`)
	f.Add(`{"errorCode":4290000,"errorMessage":"Rate limit exceeded. https://x.test/?sig=tok_SECRET_123456"}`)
	f.Add("{\"error\":{\"message\":\"\xff\xfe\",\"code\":\"1\"}}")
	f.Fuzz(func(t *testing.T, body string) {
		const secret = "tok_SECRET_123456"
		for _, p := range []apierror.Platform{apierror.PlatformTikTok, apierror.PlatformMeta, apierror.PlatformApple, apierror.PlatformAppStore} {
			pe, _ := decodePlatformError(p, []byte(body))
			for _, s := range []string{sanitizeMessage(pe.message, []string{secret}, 120), sanitizeMessage(pe.code, []string{secret}, 100)} {
				if len(s) > 120 {
					t.Fatalf("%d bytes past the cap: %q", len(s), s)
				}
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8: %q", s)
				}
				if strings.Contains(s, secret) {
					t.Fatalf("secret leaked: %q", s)
				}
				for _, r := range s {
					if unicode.IsControl(r) || isBidiControl(r) {
						t.Fatalf("control character %U in %q", r, s)
					}
				}
			}
		}
	})
}

// FuzzParseHostIP: any host string parses without panicking, and an
// address it reads is one the policy can judge; a host spelled as an
// address is never passed to a resolver as a name.
func FuzzParseHostIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "::1", "fe80::1%eth0", "example.com", "1.2.3.4.5", "0x", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a, ok, err := parseHostIP(host)
		if err != nil && ok {
			t.Fatalf("both an address and an error for %q", host)
		}
		if ok {
			if !a.IsValid() {
				t.Fatalf("invalid address for %q", host)
			}
			_ = refusal(a, false)
		}
		if _, perr := netip.ParseAddr(host); perr == nil && !ok {
			t.Fatalf("%q is an address but was not read as one", host)
		}
	})
}
