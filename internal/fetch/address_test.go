package fetch

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	forbidden := []string{
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
		"127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255",
		"192.0.0.8", "192.0.2.1", "192.168.0.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
		"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254",
		"::ffff:0:127.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b::10.0.0.1",
		"64:ff9b:1::8.8.8.8", "100::1", "2001::1", "2001:db8::1", "2002:7f00:1::", "2002:808:808::",
		"fc00::1", "fd00::2", "fd00:ec2::254", "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "3fff::1",
	}
	public := []string{
		"1.1.1.1", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
		"169.253.255.255", "192.0.1.1", "192.169.0.1", "223.255.255.254", "151.101.1.69",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001::1",
	}
	for _, s := range forbidden {
		if err := checkAddr(netip.MustParseAddr(s), nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", s, err)
		}
	}
	for _, s := range public {
		if err := checkAddr(netip.MustParseAddr(s), nil); err != nil {
			t.Errorf("%s: %v, want allowed", s, err)
		}
	}
	if err := checkAddr(netip.Addr{}, nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("zero Addr: %v, want ErrForbiddenAddress", err)
	}

	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/64")}
	for s, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "fd00::2": true, "fd00::2%eth0": true,
		"127.0.0.1": false, "fd00:1::2": false, "64:ff9b::10.1.2.3": false, "11.0.0.1": true,
	} {
		err := checkAddr(netip.MustParseAddr(s), allow)
		if (err == nil) != want {
			t.Errorf("%s with Allow %v: %v, want allowed=%t", s, allow, err, want)
		}
	}
}

// TestControlRefuses checks the last line on its own: a dialer with
// control refuses to connect to a forbidden literal address, whatever asked
// for it.
func TestControlRefuses(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := &Fetcher{}
	d := &net.Dialer{Control: f.control}
	ap := netip.MustParseAddrPort(l.Addr().String())
	mapped := netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port()) // [::ffff:127.0.0.1]:port
	for _, addr := range []string{ap.String(), mapped.String()} {
		conn, err := d.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			conn.Close()
			t.Fatalf("%s: connected", addr)
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", addr, err)
		}
	}
	f.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	conn, err := d.DialContext(t.Context(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	conn.Close()
}

// TestNoEnvironmentProxy: HTTP_PROXY and friends are never consulted; a
// proxy would dial in our place and make the address check moot.
func TestNoEnvironmentProxy(t *testing.T) {
	t.Parallel()
	tr, ok := (&Fetcher{}).client().Transport.(*http.Transport)
	if !ok || tr.Proxy != nil || tr.DialContext == nil || !tr.DisableKeepAlives {
		t.Fatalf("transport %#v: want no Proxy, our DialContext, no keep-alives", tr)
	}
}
