package fetch

import (
	"fmt"
	"net/netip"
)

// blockedRange is a range of addresses a fetch never connects to unless the
// operator allows it, with what it is, for logs.
type blockedRange struct {
	prefix netip.Prefix
	what   string
}

func block(cidr, what string) blockedRange {
	return blockedRange{netip.MustParsePrefix(cidr), what}
}

// blocked are the IPv4 and IPv6 ranges that are not the public internet:
// the host itself, private and carrier networks, link-local (cloud metadata
// services live there), multicast, and ranges reserved for documentation,
// testing or nothing. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// checked as the IPv4 address they are, and NAT64 addresses (64:ff9b::/96)
// as the IPv4 address they reach.
var blocked = []blockedRange{
	block("0.0.0.0/8", "this network (0.0.0.0 reaches the local host)"),
	block("10.0.0.0/8", "private (RFC 1918)"),
	block("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
	block("127.0.0.0/8", "loopback"),
	block("169.254.0.0/16", "link-local (cloud metadata)"),
	block("172.16.0.0/12", "private (RFC 1918)"),
	block("192.0.0.0/24", "IETF protocol assignments"),
	block("192.0.2.0/24", "documentation"),
	block("192.88.99.0/24", "6to4 relay anycast"),
	block("192.168.0.0/16", "private (RFC 1918)"),
	block("198.18.0.0/15", "benchmarking"),
	block("198.51.100.0/24", "documentation"),
	block("203.0.113.0/24", "documentation"),
	block("224.0.0.0/4", "multicast"),
	block("240.0.0.0/4", "reserved (and broadcast)"),

	block("::/96", "unspecified, loopback or IPv4-compatible"),
	block("::ffff:0:0:0/96", "IPv4-translated"),
	block("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
	block("100::/64", "discard"),
	block("2001::/32", "Teredo"),
	block("2001:db8::/32", "documentation"),
	block("2002::/16", "6to4"),
	block("3fff::/20", "documentation"),
	block("fc00::/7", "unique local (RFC 4193)"),
	block("fe80::/10", "link-local"),
	block("fec0::/10", "site-local"),
	block("ff00::/8", "multicast"),
}

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d reaches
// a.b.c.d through a translator. DNS64 networks answer public IPv4-only
// names with it, so it is checked by the IPv4 address inside.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// checkAddr returns nil when a fetch may connect to addr: it is in allow,
// or in none of the blocked ranges. Zones are ignored, and an IPv4-mapped
// address is the IPv4 address for allow as well.
func checkAddr(addr netip.Addr, allow []netip.Prefix) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	addr = addr.WithZone("")
	plain := addr.Unmap()
	for _, p := range allow {
		if p.Contains(addr) || p.Contains(plain) {
			return nil
		}
	}
	if what := blockedAs(plain); what != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, addr, what)
	}
	return nil
}

// blockedAs names the blocked range addr is in, or returns "".
func blockedAs(addr netip.Addr) string {
	if nat64.Contains(addr) {
		b := addr.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if what := blockedAs(v4); what != "" {
			return "NAT64 for " + v4.String() + ", " + what
		}
		return ""
	}
	for _, r := range blocked {
		if r.prefix.Contains(addr) {
			return r.what
		}
	}
	return ""
}
