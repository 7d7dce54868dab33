package clientip_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/layershq/errkit/clientip"
)

func resolver(t *testing.T, cfg clientip.Config, trusted ...string) *clientip.Resolver {
	t.Helper()
	p, err := clientip.ParsePrefixes(trusted...)
	require.NoError(t, err)
	cfg.TrustedProxies = p
	res, err := clientip.New(cfg)
	require.NoError(t, err)
	return res
}

// req returns a request from peer carrying each of values as one line of
// header h.
func req(peer, h string, values ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = peer
	for _, v := range values {
		r.Header.Add(h, v)
	}
	return r
}

const xff = "X-Forwarded-For"

func TestXForwardedFor(t *testing.T) {
	// The proxies: an ingress tier in 10.0.0.0/8 and a load balancer at
	// 192.0.2.10.
	res := resolver(t, clientip.Config{}, "10.0.0.0/8", "192.0.2.10")
	tests := []struct {
		name   string
		peer   string
		values []string
		want   string
	}{
		{name: "direct client, no header", peer: "203.0.113.7:5555", want: "203.0.113.7"},
		{name: "spoof: untrusted peer's header is ignored", peer: "203.0.113.7:5555", values: []string{"198.51.100.1"}, want: "203.0.113.7"},
		{name: "spoof: untrusted peer claims a trusted hop", peer: "203.0.113.7:5555", values: []string{"198.51.100.1, 10.0.0.1"}, want: "203.0.113.7"},
		{name: "one proxy", peer: "10.0.0.1:80", values: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoof: leftmost value is the client's invention", peer: "10.0.0.1:80", values: []string{"1.2.3.4, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "two trusted hops are skipped", peer: "10.0.0.2:80", values: []string{"1.2.3.4, 198.51.100.1, 192.0.2.10, 10.0.0.1"}, want: "198.51.100.1"},
		{name: "spoof: client sends a trusted address first", peer: "10.0.0.1:80", values: []string{"10.9.9.9, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoof: many lines, rightmost line is the proxy's", peer: "10.0.0.1:80", values: []string{"1.1.1.1", "2.2.2.2, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "lines are one list", peer: "10.0.0.1:80", values: []string{"198.51.100.1", "10.0.0.3"}, want: "198.51.100.1"},
		{name: "every hop trusted: the leftmost one", peer: "10.0.0.1:80", values: []string{"10.1.1.1, 10.0.0.2"}, want: "10.1.1.1"},
		{name: "trusted peer, no header: the proxy", peer: "10.0.0.1:80", want: "10.0.0.1"},
		{name: "garbage where the client should be: the nearest proxy", peer: "10.0.0.1:80", values: []string{"1.2.3.4, not-an-ip"}, want: "10.0.0.1"},
		{name: "garbage left of the client is never reached", peer: "10.0.0.1:80", values: []string{"<script>, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "garbage behind a trusted hop: that hop", peer: "10.0.0.1:80", values: []string{"1.2.3.4, x, 10.0.0.5"}, want: "10.0.0.5"},
		{name: "empty element", peer: "10.0.0.1:80", values: []string{"1.2.3.4,,"}, want: "10.0.0.1"},
		{name: "empty line", peer: "10.0.0.1:80", values: []string{""}, want: "10.0.0.1"},
		{name: "whitespace around elements", peer: "10.0.0.1:80", values: []string{" 1.2.3.4 ,\t198.51.100.1 "}, want: "198.51.100.1"},
		{name: "port on an IPv4 element", peer: "10.0.0.1:80", values: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "IPv6 element", peer: "10.0.0.1:80", values: []string{"2001:db8::1"}, want: "2001:db8::1"},
		{name: "bracketed IPv6 with port", peer: "10.0.0.1:80", values: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1"},
		{name: "bracketed IPv6", peer: "10.0.0.1:80", values: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "bracketed IPv4 is garbage", peer: "10.0.0.1:80", values: []string{"[198.51.100.1]"}, want: "10.0.0.1"},
		{name: "IPv4-mapped element is unmapped", peer: "10.0.0.1:80", values: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "spoof: mapped spelling of a trusted hop is still trusted", peer: "10.0.0.1:80", values: []string{"198.51.100.1, ::ffff:10.0.0.9"}, want: "198.51.100.1"},
		{name: "zone is dropped", peer: "10.0.0.1:80", values: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "IPv4-mapped peer is unmapped and trusted", peer: "[::ffff:10.0.0.1]:80", values: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "IPv6 peer", peer: "[2001:db8::7]:443", values: []string{"198.51.100.1"}, want: "2001:db8::7"},
		{name: "peer without port", peer: "203.0.113.7", want: "203.0.113.7"},
		{name: "Forwarded is not read when X-Forwarded-For is configured", peer: "10.0.0.1:80", want: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req(tt.peer, xff, tt.values...)
			if tt.name == "Forwarded is not read when X-Forwarded-For is configured" {
				r.Header.Set("Forwarded", "for=198.51.100.1")
			}
			a, ok := res.Addr(r)
			require.True(t, ok)
			want := netip.MustParseAddr(tt.want)
			assert.Equal(t, want, a)
			wantKey := "ip:" + tt.want
			if want.Is6() {
				wantKey = "ip:" + netip.PrefixFrom(want, 64).Masked().String() // the default IPv6Prefix
			}
			assert.Equal(t, wantKey, res.Key(r))
		})
	}
}

func TestNoTrustedProxies(t *testing.T) {
	res := resolver(t, clientip.Config{})
	r := req("10.0.0.1:80", xff, "198.51.100.1")
	r.Header.Set("Forwarded", "for=198.51.100.1")
	r.Header.Set("X-Real-Ip", "198.51.100.1")
	assert.Equal(t, "ip:10.0.0.1", res.Key(r), "headers are never read without trusted proxies")
}

func TestForwarded(t *testing.T) {
	res := resolver(t, clientip.Config{Header: clientip.Forwarded}, "10.0.0.0/8")
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{name: "RFC 7239 example", values: []string{"for=192.0.2.60;proto=http;by=203.0.113.43"}, want: "192.0.2.60"},
		{name: "quoted IPv6 with port", values: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "bare bracketed IPv6", values: []string{`for=[2001:db8::17]`}, want: "2001:db8::17"},
		{name: "quoted IPv4 with port", values: []string{`for="192.0.2.43:47011"`}, want: "192.0.2.43"},
		{name: "case-insensitive name", values: []string{"For=192.0.2.60"}, want: "192.0.2.60"},
		{name: "spoof: leftmost is the client's invention", values: []string{"for=1.2.3.4, for=192.0.2.60"}, want: "192.0.2.60"},
		{name: "trusted hops skipped", values: []string{"for=1.2.3.4, for=192.0.2.60, for=10.0.0.4"}, want: "192.0.2.60"},
		{name: "lines are one list", values: []string{"for=1.2.3.4", "for=192.0.2.60;proto=https"}, want: "192.0.2.60"},
		{name: "comma inside a quoted value does not split", values: []string{`for=192.0.2.60;x="a,b"`}, want: "192.0.2.60"},
		{name: "semicolon inside a quoted value does not split", values: []string{`x="a;for=1.1.1.1";for=192.0.2.60`}, want: "192.0.2.60"},
		{name: "whitespace around pairs", values: []string{"for=1.2.3.4 , for=192.0.2.60 ; proto=http"}, want: "192.0.2.60"},
		{name: "unknown node: the proxy", values: []string{"for=unknown"}, want: "10.0.0.1"},
		{name: "obfuscated node: the proxy", values: []string{"for=_hidden"}, want: "10.0.0.1"},
		{name: "no for: the proxy", values: []string{"proto=https;by=10.0.0.1"}, want: "10.0.0.1"},
		{name: "two for in one element: the proxy", values: []string{"for=192.0.2.60;for=1.2.3.4"}, want: "10.0.0.1"},
		{name: "unterminated quote: the proxy", values: []string{`for="192.0.2.60`}, want: "10.0.0.1"},
		{name: "pair without =: the proxy", values: []string{"for=192.0.2.60;secure"}, want: "10.0.0.1"},
		{name: "bad token value: the proxy", values: []string{"for=192.0.2.60;proto=a b"}, want: "10.0.0.1"},
		{name: "escaped quote in a value", values: []string{`for=192.0.2.60;x="a\"b"`}, want: "192.0.2.60"},
		{name: "X-Forwarded-For is not read", want: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req("10.0.0.1:80", "Forwarded", tt.values...)
			r.Header.Set(xff, "198.51.100.99")
			a, ok := res.Addr(r)
			require.True(t, ok)
			assert.Equal(t, netip.MustParseAddr(tt.want), a)
		})
	}
}

func TestKey(t *testing.T) {
	zero := resolver(t, clientip.Config{}) // IPv6Prefix 0: DefaultIPv6Prefix, a /64
	by64 := resolver(t, clientip.Config{IPv6Prefix: 64})
	by48 := resolver(t, clientip.Config{IPv6Prefix: 48})
	full := resolver(t, clientip.Config{IPv6Prefix: 128})
	tests := []struct {
		peer             string
		by64, by48, full string
	}{
		{"203.0.113.7:1", "ip:203.0.113.7", "ip:203.0.113.7", "ip:203.0.113.7"},
		{"[2001:db8:1:2:3:4:5:6]:1", "ip:2001:db8:1:2::/64", "ip:2001:db8:1::/48", "ip:2001:db8:1:2:3:4:5:6"},
		{"[2001:db8:1:2:ffff::1]:1", "ip:2001:db8:1:2::/64", "ip:2001:db8:1::/48", "ip:2001:db8:1:2:ffff::1"},
		{"[2001:db8:1:3::1]:1", "ip:2001:db8:1:3::/64", "ip:2001:db8:1::/48", "ip:2001:db8:1:3::1"},
		{"[fe80::1%eth0]:1", "ip:fe80::/64", "ip:fe80::/48", "ip:fe80::1"},
		{"[::ffff:203.0.113.7]:1", "ip:203.0.113.7", "ip:203.0.113.7", "ip:203.0.113.7"},
		{"@", "ip:unknown", "ip:unknown", "ip:unknown"},
		{"", "ip:unknown", "ip:unknown", "ip:unknown"},
	}
	for _, tt := range tests {
		r := req(tt.peer, xff)
		assert.Equal(t, tt.by64, zero.Key(r), "default, %s", tt.peer)
		assert.Equal(t, tt.by64, by64.Key(r), "/64, %s", tt.peer)
		assert.Equal(t, tt.by48, by48.Key(r), "/48, %s", tt.peer)
		assert.Equal(t, tt.full, full.Key(r), "/128, %s", tt.peer)
	}
	t.Run("addresses of one /64 share a key by default", func(t *testing.T) {
		keys := map[string]bool{}
		for i := range 16 {
			keys[zero.Key(req(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1), xff))] = true
		}
		assert.Equal(t, map[string]bool{"ip:2001:db8:1:2::/64": true}, keys)
	})
	t.Run("Addr is the full address whatever the prefix", func(t *testing.T) {
		for _, res := range []*clientip.Resolver{zero, by48, full} {
			a, ok := res.Addr(req("[2001:db8:1:2:3:4:5:6]:1", xff))
			require.True(t, ok)
			assert.Equal(t, netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), a)
		}
	})
	_, ok := zero.Addr(req("@", xff))
	assert.False(t, ok)
}

func TestConfig(t *testing.T) {
	for _, cfg := range []clientip.Config{
		{IPv6Prefix: -1},
		{IPv6Prefix: 129},
		{Header: clientip.Header(7)},
		{TrustedProxies: []netip.Prefix{{}}},
	} {
		_, err := clientip.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	for _, n := range []int{0, 1, 64, 128} {
		_, err := clientip.New(clientip.Config{IPv6Prefix: n})
		assert.NoError(t, err, "IPv6Prefix %d", n)
	}
	t.Run("IPv4-mapped trusted prefix shorter than /96 is refused", func(t *testing.T) {
		// Unmapped, ::ffff:10.0.0.0/8 used to become 0.0.0.0/0: every IPv4
		// peer trusted, every client free to choose its key.
		for _, p := range []string{"::ffff:10.0.0.0/8", "::ffff:0.0.0.0/95", "::ffff:192.0.2.0/0"} {
			_, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix(p)}})
			require.Error(t, err, p)
			assert.Contains(t, err.Error(), "clientip: Config.TrustedProxies: IPv4-mapped prefix "+p+" is shorter than /96", p)
		}
	})
	t.Run("IPv4-mapped /96 and longer are IPv4 networks", func(t *testing.T) {
		tests := []struct {
			prefix          string
			trusted, others []string
		}{
			{"::ffff:0.0.0.0/96", []string{"10.1.2.3", "203.0.113.7"}, []string{"2001:db8::1"}},
			{"::ffff:10.0.0.0/104", []string{"10.1.2.3", "10.255.255.255"}, []string{"11.0.0.1", "203.0.113.7"}},
			{"::ffff:192.0.2.7/128", []string{"192.0.2.7"}, []string{"192.0.2.8"}},
		}
		for _, tt := range tests {
			res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix(tt.prefix)}})
			require.NoError(t, err, tt.prefix)
			for _, peer := range tt.trusted {
				assert.Equal(t, "ip:198.51.100.1", res.Key(req(net.JoinHostPort(peer, "80"), xff, "198.51.100.1")), "%s trusts %s", tt.prefix, peer)
			}
			for _, peer := range tt.others {
				a, ok := res.Addr(req(net.JoinHostPort(peer, "80"), xff, "198.51.100.1"))
				require.True(t, ok)
				assert.Equal(t, netip.MustParseAddr(peer), a, "%s does not trust %s", tt.prefix, peer)
			}
		}
	})
	t.Run("IPv4-mapped trusted prefix matches IPv4 peers", func(t *testing.T) {
		res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}})
		require.NoError(t, err)
		assert.Equal(t, "ip:198.51.100.1", res.Key(req("10.1.2.3:80", xff, "198.51.100.1")))
	})
	t.Run("unmasked prefix is masked", func(t *testing.T) {
		res, err := clientip.New(clientip.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}})
		require.NoError(t, err)
		assert.Equal(t, "ip:198.51.100.1", res.Key(req("10.200.0.1:80", xff, "198.51.100.1")))
	})
}

func TestParsePrefixes(t *testing.T) {
	got, err := clientip.ParsePrefixes("10.0.0.0/8", " 192.0.2.7 ", "", "2001:db8::/32", "::ffff:192.0.2.8", "fe80::1%eth0")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("192.0.2.8/32"),
		netip.MustParsePrefix("fe80::1/128"),
	}, got)
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8/8", "1.2.3", "::ffff:10.0.0.0/8"} {
		_, err := clientip.ParsePrefixes(bad)
		assert.Error(t, err, bad)
	}
	_, err = clientip.ParsePrefixes("10.0.0.0/8", "::ffff:10.0.0.0/8")
	assert.EqualError(t, err, "clientip: IPv4-mapped prefix ::ffff:10.0.0.0/8 is shorter than /96 (write an IPv4 network as 10.0.0.0/8, or mapped as ::ffff:10.0.0.0/104)")
	got, err = clientip.ParsePrefixes("::ffff:10.0.0.0/104")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}, got, "kept as written; New unmaps it")
}
