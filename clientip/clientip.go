// Package clientip finds the IP address of the client of a request, for
// keying rate limits of requests that have no authenticated caller
// (anonymous requests, failed authentication, an operator API).
//
// By default the address is the connection's peer (r.RemoteAddr), which a
// client cannot choose. Forwarding headers are read only when the peer is
// one of the configured trusted proxies, and then right to left: each
// trusted proxy appends the address it received the request from, so the
// rightmost address that is not a trusted proxy is the client, and
// everything left of it is whatever the client chose to send. The usual
// mistakes (as in echo's RealIP before its trust options) are reading the
// leftmost value, or reading the header whoever sent it; both let a client
// pick its own rate-limit key with one header.
//
// An address is normalised: an IPv4-mapped IPv6 address is unmapped
// ("::ffff:192.0.2.1" is 192.0.2.1) and an IPv6 zone is dropped. A client
// on IPv6 usually holds a whole /64 and can pick a fresh address from it
// for every request, so [Resolver.Key] keys IPv6 clients by their /64
// network unless [Config].IPv6Prefix says otherwise.
package clientip

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header selects the forwarding header read behind trusted proxies.
type Header int

const (
	// XForwardedFor reads X-Forwarded-For: "client, proxy1, proxy2". It is
	// the default; nginx ($proxy_add_x_forwarded_for), Envoy, HAProxy and
	// cloud load balancers append to it.
	XForwardedFor Header = iota
	// Forwarded reads RFC 7239's Forwarded: "for=client, for=proxy1". Only
	// the for= parameter of each element is used.
	Forwarded
)

// String returns the header's name.
func (h Header) String() string {
	if h == Forwarded {
		return "Forwarded"
	}
	return "X-Forwarded-For"
}

// Config configures a [Resolver]. The zero value trusts no proxy and uses
// the connection's peer.
type Config struct {
	// TrustedProxies are the networks of the proxies in front of the
	// service (load balancers, the ingress). A request whose peer is in
	// none of them is keyed by the peer, whatever headers it carries. Parse
	// strings with [ParsePrefixes]. Trust only proxies that append to (or
	// overwrite) the header the Resolver reads.
	TrustedProxies []netip.Prefix
	// Header is the forwarding header the trusted proxies set. Default
	// [XForwardedFor]. Only that one header is read: a proxy that sets one
	// header passes the other through from the client unchecked.
	Header Header
	// IPv6Prefix is the length of the network [Resolver.Key] keys an IPv6
	// client by: 1 to 128, and 0 means [DefaultIPv6Prefix] (64, one
	// subscriber's allocation), so that a client cannot spend a fresh
	// budget per address of its /64. 128 keys by the full address; a
	// shorter prefix (56, 48) puts a whole site's allocation in one key.
	// [Resolver.Addr] always returns the full address.
	IPv6Prefix int
}

// DefaultIPv6Prefix is the IPv6 network length keys use when
// [Config].IPv6Prefix is 0: a /64, the smallest allocation an IPv6
// subscriber is given.
const DefaultIPv6Prefix = 64

// Resolver finds client addresses. It is safe for concurrent use.
type Resolver struct {
	trusted    []netip.Prefix
	header     string
	forwarded  bool
	ipv6Prefix int
}

// New returns a Resolver for cfg, or an error when cfg is invalid: an
// IPv6Prefix outside 0-128, an unknown Header, or a trusted prefix that is
// invalid or IPv4-mapped and shorter than /96 (see [ParsePrefixes]).
func New(cfg Config) (*Resolver, error) {
	if cfg.IPv6Prefix < 0 || cfg.IPv6Prefix > 128 {
		return nil, fmt.Errorf("clientip: Config.IPv6Prefix %d is not within 0-128", cfg.IPv6Prefix)
	}
	ipv6Prefix := cfg.IPv6Prefix
	if ipv6Prefix == 0 {
		ipv6Prefix = DefaultIPv6Prefix
	}
	if cfg.Header != XForwardedFor && cfg.Header != Forwarded {
		return nil, fmt.Errorf("clientip: Config.Header %d is not XForwardedFor or Forwarded", int(cfg.Header))
	}
	trusted := make([]netip.Prefix, 0, len(cfg.TrustedProxies))
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("clientip: Config.TrustedProxies holds an invalid prefix")
		}
		if err := checkMapped(p); err != nil {
			return nil, fmt.Errorf("clientip: Config.TrustedProxies: %w", err)
		}
		trusted = append(trusted, normalPrefix(p))
	}
	return &Resolver{trusted: trusted, header: cfg.Header.String(), forwarded: cfg.Header == Forwarded, ipv6Prefix: ipv6Prefix}, nil
}

// checkMapped refuses an IPv4-mapped prefix shorter than /96. Such a
// prefix reaches outside ::ffff:0:0/96, so it names no IPv4 network: read
// as IPv6 it covers every mapped address (::ffff:10.0.0.0/8 is ::/8, all
// of IPv4), and it is almost always a /8 written in the wrong notation.
// Trusting all of IPv4 by a typo would let any client choose its key.
func checkMapped(p netip.Prefix) error {
	if p.Addr().Is4In6() && p.Bits() < 96 {
		return fmt.Errorf("IPv4-mapped prefix %s is shorter than /96 (write an IPv4 network as 10.0.0.0/8, or mapped as ::ffff:10.0.0.0/104)", p)
	}
	return nil
}

// normalPrefix unmaps an IPv4-mapped prefix (::ffff:10.0.0.0/104 is
// 10.0.0.0/8), so that it matches the unmapped addresses compared to it.
// p is valid and passed checkMapped.
func normalPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// ParsePrefixes parses networks in CIDR notation ("10.0.0.0/8",
// "2001:db8::/32") or single addresses ("192.0.2.7", a /32 or /128), for
// [Config].TrustedProxies. Empty strings are skipped, so a flag's
// strings.Split(v, ",") can be passed as it is. An IPv4-mapped network
// shorter than /96 ("::ffff:10.0.0.0/8") is an error: it is no IPv4
// network, and read as IPv6 it would cover every IPv4 address.
func ParsePrefixes(s ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(s))
	for _, v := range s {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if strings.Contains(v, "/") {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, fmt.Errorf("clientip: %w", err)
			}
			if err := checkMapped(p); err != nil {
				return nil, fmt.Errorf("clientip: %w", err)
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("clientip: %w", err)
		}
		a = a.WithZone("").Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Addr returns the client address of r, normalised, and false when r's
// peer address is not an IP address (a Unix socket, a test request
// without RemoteAddr). Behind trusted proxies it is the rightmost address
// of the forwarding header that is not a trusted proxy; when the header is
// missing or a value in it does not parse, the address is the nearest
// trusted hop that could be read (the proxy itself), never a value further
// left.
func (res *Resolver) Addr(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHostPort(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !res.trusts(peer) {
		return peer, true
	}
	client := peer
	values := r.Header.Values(res.header)
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			// The rightmost element of what remains of this line.
			var elem string
			if j := lastComma(v, res.forwarded); j >= 0 {
				elem, v = v[j+1:], v[:j]
			} else {
				elem, v = v, ""
			}
			var a netip.Addr
			var ok bool
			if res.forwarded {
				a, ok = parseForwardedElement(elem)
			} else {
				a, ok = parseNode(strings.Trim(elem, " \t"))
			}
			if !ok {
				return client, true // garbage where a proxy should have written: stop
			}
			client = a
			if !res.trusts(a) {
				return a, true
			}
			if v == "" {
				break
			}
		}
	}
	return client, true
}

// Key returns "ip:" and the client address of r, or for IPv6 the network
// of [Config].IPv6Prefix bits holding it ("ip:2001:db8:1:2::/64"; with
// IPv6Prefix 128 the full address, "ip:2001:db8:1:2::7"), for
// ratelimit.Config.KeyFunc. A
// request whose peer is not an IP address gets "ip:unknown": such requests
// share one bucket, rather than go unlimited (an empty key is not
// limited). A key holds only hex digits, '.', ':' and '/' after "ip:", so
// it is safe in a Redis key and as a hash tag (ratelimit/redisstore).
func (res *Resolver) Key(r *http.Request) string {
	a, ok := res.Addr(r)
	if !ok {
		return "ip:unknown"
	}
	if a.Is6() && res.ipv6Prefix < 128 {
		p, _ := a.Prefix(res.ipv6Prefix)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

func (res *Resolver) trusts(a netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// normal unmaps and drops the zone.
func normal(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// parseHostPort parses a RemoteAddr ("192.0.2.1:1234", "[2001:db8::1]:80").
func parseHostPort(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normal(ap.Addr()), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return normal(a), true
}

// parseNode parses one X-Forwarded-For element: an address, with or
// without a port ("192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:80").
func parseNode(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normal(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normal(ap.Addr()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return normal(a), true
		}
	}
	return netip.Addr{}, false
}

// lastComma returns the index of the last comma of s that separates list
// elements, or -1. In a Forwarded header, commas inside quoted strings do
// not separate.
func lastComma(s string, quoted bool) int {
	if !quoted {
		return strings.LastIndexByte(s, ',')
	}
	last, inQuote := -1, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			last = i
		}
	}
	return last
}

// parseForwardedElement returns the address of the for= parameter of one
// Forwarded element ("for=192.0.2.60;proto=http;by=203.0.113.43",
// `for="[2001:db8::17]:4711"`). An element without exactly one for=, with
// a malformed pair, or whose node is "unknown" or an obfuscated name
// ("_hidden") has no address.
func parseForwardedElement(elem string) (netip.Addr, bool) {
	var node string
	found := false
	for elem != "" {
		var pair string
		pair, elem = cutPair(elem)
		name, value, ok := strings.Cut(strings.Trim(pair, " \t"), "=")
		if !ok || name == "" || !isToken(name) {
			return netip.Addr{}, false
		}
		if strings.EqualFold(name, "for") {
			if found {
				return netip.Addr{}, false
			}
			found = true
			node = value // unquoted: an IPv4 token, or a bracketed IPv6 some proxies send bare
			if strings.HasPrefix(value, `"`) {
				if node, ok = unquote(value); !ok {
					return netip.Addr{}, false
				}
			}
		} else if _, ok := unquote(value); !ok {
			return netip.Addr{}, false
		}
	}
	if !found {
		return netip.Addr{}, false
	}
	return parseNode(node)
}

// cutPair splits off the first ';'-separated pair of s, ';' inside a
// quoted string included in the pair.
func cutPair(s string) (pair, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unquote returns a Forwarded parameter value: a token, or a quoted string
// with its escapes removed.
func unquote(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if v[0] != '"' {
		return v, isToken(v)
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if c == '\\' {
			i++
			if i >= len(v)-1 {
				return "", false
			}
			c = v[i]
		} else if c == '"' {
			return "", false
		}
		if c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
