package clientip_test

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/clientip"
)

// FuzzAddr feeds peer addresses and forwarding header values to both
// parsers (X-Forwarded-For and Forwarded), trusting 10.0.0.0/8.
// Properties: it never panics; an untrusted peer is always the answer
// (headers are never read for it); any other answer is normalised (no
// IPv4-mapped form, no zone) and is either the peer or an address written
// in the header; the key is never empty.
func FuzzAddr(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1:80", "198.51.100.1"},
		{"10.0.0.1:80", "6.6.6.6, 198.51.100.1, 10.0.0.2"},
		{"203.0.113.7:1", "198.51.100.1"},
		{"[::ffff:10.0.0.1]:80", "[2001:db8::1]:4711"},
		{"10.0.0.1:80", `for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60`},
		{"10.0.0.1:80", `for=1.1.1.1;x="a,b;c", for=unknown`},
		{"10.0.0.1:80", `,,for="\"`},
		{"@", "1.2.3.4"},
	} {
		f.Add(s[0], s[1])
	}
	trusted := netip.MustParsePrefix("10.0.0.0/8")
	xff, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{trusted}})
	require.NoError(f, err)
	fwd, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{trusted}, Header: clientip.Forwarded, IPv6Prefix: 64})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, peer, header string) {
		r := &http.Request{RemoteAddr: peer, Header: http.Header{
			"X-Forwarded-For": {header},
			"Forwarded":       {header},
		}}
		for _, res := range []*clientip.Resolver{xff, fwd} {
			key := res.Key(r)
			require.True(t, strings.HasPrefix(key, "ip:") && len(key) > 3)
			a, ok := res.Addr(r)
			if !ok {
				require.Equal(t, "ip:unknown", key)
				continue
			}
			require.True(t, a.IsValid())
			require.False(t, a.Is4In6(), "%s is unmapped", a)
			require.Empty(t, a.Zone())
			host := peer
			if h, _, err := net.SplitHostPort(peer); err == nil {
				host = h
			}
			var peerAddr netip.Addr
			if pa, err := netip.ParseAddr(host); err == nil {
				peerAddr = pa.WithZone("").Unmap()
			}
			if peerAddr.IsValid() && !trusted.Contains(peerAddr) {
				require.Equal(t, peerAddr, a, "an untrusted peer is the client")
			}
			if a != peerAddr {
				require.True(t, peerAddr.IsValid() && trusted.Contains(peerAddr), "headers only behind a trusted peer")
				require.True(t, inHeader(header, a), "%s comes from the header %q", a, header)
			}
		}
	})
}

// inHeader reports whether some address written in header (cut at every
// byte that cannot be part of one, with or without a port) is a.
func inHeader(header string, a netip.Addr) bool {
	for _, tok := range strings.FieldsFunc(header, func(r rune) bool {
		return !strings.ContainsRune("0123456789abcdefABCDEF:.", r)
	}) {
		if b, err := netip.ParseAddr(tok); err == nil && b.Unmap() == a {
			return true
		}
		if ap, err := netip.ParseAddrPort(tok); err == nil && ap.Addr().Unmap() == a {
			return true
		}
	}
	return false
}
