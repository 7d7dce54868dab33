package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// Resolver resolves host names for a [Fetcher]. *net.Resolver satisfies it;
// tests pass one that answers without the network.
type Resolver interface {
	// LookupNetIP returns the addresses of host, as
	// (*net.Resolver).LookupNetIP does.
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// refusedPrefixes are the networks a fetch may never reach, with the reason
// logged. Loopback is handled apart (it has an opt-in).
var refusedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network, RFC 1122)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (RFC 6598)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (RFC 3927; cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast (RFC 7526)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (RFC 2544)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (RFC 5737)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (and broadcast)"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated, RFC 4291)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 (RFC 8215)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (RFC 6666)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo tunnel (RFC 4380)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation (RFC 3849)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (RFC 4193)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// refusal returns why a fetch may not connect to a, or "" when it may.
// IPv4 addresses in IPv6 clothing (IPv4-mapped, NAT64, 6to4) are judged by
// the IPv4 address they carry.
func refusal(a netip.Addr, allowLoopback bool) string {
	a = a.WithZone("")
	if !a.IsValid() {
		return "invalid address"
	}
	if a.Is4In6() {
		return refusal(a.Unmap(), allowLoopback)
	}
	if a.IsLoopback() {
		if allowLoopback {
			return ""
		}
		return "loopback"
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			if r := refusal(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), false); r != "" {
				return "NAT64 of a refused IPv4 address: " + r
			}
		case sixToFour.Contains(a):
			if r := refusal(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), false); r != "" {
				return "6to4 of a refused IPv4 address: " + r
			}
		}
	}
	for _, rp := range refusedPrefixes {
		if rp.p.Contains(a) {
			return rp.reason
		}
	}
	return ""
}

// parseHostIP reads host as an IP address: an IPv6 literal (with or
// without a zone) or an IPv4 address in any form an HTTP stack or a C
// resolver may accept (WHATWG URL's IPv4 parser, which inet_aton matches):
// "127.0.0.1", "2130706433", "0x7f000001", "127.1", "0177.0.0.1",
// "0x7f.0.0.1". It reports ok=false for a name, and an error for a host
// that is numeric but no valid address (such a host is never resolved:
// resolvers disagree about it).
func parseHostIP(host string) (netip.Addr, bool, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true, nil
	}
	h := strings.TrimSuffix(host, ".")
	if h == "" || !looksNumeric(h) {
		return netip.Addr{}, false, nil
	}
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false, fmt.Errorf("numeric host %q has more than four parts", host)
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := parseIPv4Part(p)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("numeric host %q: %v", host, err)
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false, fmt.Errorf("numeric host %q has a part above 255", host)
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false, fmt.Errorf("numeric host %q is out of range", host)
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v |= n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// looksNumeric reports whether every dot-separated part of h is a number
// in decimal, octal or hex: such a host is an address, never a name.
func looksNumeric(h string) bool {
	for _, p := range strings.Split(h, ".") {
		if p == "" {
			return false
		}
		s := p
		if len(s) > 1 && (s[:2] == "0x" || s[:2] == "0X") {
			s = s[2:]
			if s == "" {
				continue // "0x" is 0 in WHATWG
			}
			for i := 0; i < len(s); i++ {
				if !isHex(s[i]) {
					return false
				}
			}
			continue
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func parseIPv4Part(p string) (uint64, error) {
	base := 10
	switch {
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, nil
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	n, err := strconv.ParseUint(p, base, 32)
	if err != nil {
		return 0, fmt.Errorf("part %q is not a number below 2^32", p)
	}
	return n, nil
}

// refusedError is a dial the address policy refused.
type refusedError struct {
	host   string
	addr   netip.Addr
	reason string
}

func (e *refusedError) Error() string {
	if e.addr.IsValid() && e.addr.String() != e.host {
		return fmt.Sprintf("upstream: refused to connect to %s (%s): %s address", e.host, e.addr, e.reason)
	}
	return fmt.Sprintf("upstream: refused to connect to %s: %s address", e.host, e.reason)
}

// resolveError is a host name that could not be resolved.
type resolveError struct {
	host string
	err  error
}

func (e *resolveError) Error() string {
	return fmt.Sprintf("upstream: resolve %s: %v", e.host, e.err)
}

func (e *resolveError) Unwrap() error { return e.err }

// guardedDialer connects only to addresses the policy allows. It resolves
// the host itself and dials the checked IP, so that the address checked is
// the address connected to (no second resolution for DNS rebinding to
// answer differently).
type guardedDialer struct {
	resolver      Resolver
	dial          func(ctx context.Context, network, address string) (net.Conn, error)
	allowLoopback bool
}

func (d *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("upstream: bad port in %q", address)
	}
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var allowed []netip.Addr
	var refused *refusedError
	for _, a := range addrs {
		if r := refusal(a, d.allowLoopback); r != "" {
			if refused == nil {
				refused = &refusedError{host: host, addr: a.WithZone(""), reason: r}
			}
			continue
		}
		allowed = append(allowed, a)
	}
	if len(allowed) == 0 {
		if refused == nil {
			return nil, &resolveError{host: host, err: errors.New("no addresses")}
		}
		return nil, refused
	}
	var last error
	for _, a := range allowed {
		conn, err := d.dial(ctx, network, netip.AddrPortFrom(a.WithZone(""), uint16(p)).String())
		if err == nil {
			return conn, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (d *guardedDialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	a, ok, err := parseHostIP(host)
	if err != nil {
		return nil, &refusedError{host: host, reason: "malformed numeric"}
	}
	if ok {
		return []netip.Addr{a}, nil
	}
	addrs, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &resolveError{host: host, err: err}
	}
	return addrs, nil
}

// controlGuard is the default dialer's last check, on the socket address
// itself: whatever led to this connect, it cannot reach a refused address.
func controlGuard(allowLoopback bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("upstream: refusing to connect to unparsable address %q", address)
		}
		if r := refusal(ap.Addr(), allowLoopback); r != "" {
			return &refusedError{host: ap.Addr().String(), addr: ap.Addr(), reason: r}
		}
		return nil
	}
}
