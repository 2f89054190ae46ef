package fetch_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/fetch"
)

// TestSecNumericHostsIDN: the numeric IPv4 spellings of TestNumericHosts,
// written with characters that IDNA's lookup mapping turns into ASCII
// digits and dots (which net/http applies to a host before it dials), are
// refused as bad URLs before any lookup, like their ASCII forms; and so is
// a host IDNA refuses, rather than failing later as a network error. A
// real internationalised name still gets through the URL rules.
func TestSecNumericHostsIDN(t *testing.T) {
	t.Parallel()
	s := serve(t, "127.0.0.1:0", ok("secret"))
	p := strconv.Itoa(s.Port)
	var lookups atomic.Int64
	likeGetaddrinfo := func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	hosts := []string{
		"\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13", // fullwidth 2130706433
		"127\u30021",                // 127。1 (ideographic full stop)
		"\uff10x7f000001",           // fullwidth 0, then x7f000001
		"127\uff0e0\uff0e0\uff0e01", // fullwidth full stops: 127.0.0.01
		"\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13\u3002", // with a final dot
		"xn--a\u00e9.example", // refused by IDNA
	}
	for _, host := range hosts {
		_, _, err := get(t, &fetch.Fetcher{Resolve: likeGetaddrinfo}, "http://"+host+":"+p+"/")
		if !errors.Is(err, fetch.ErrBadURL) {
			t.Errorf("%q: err = %v, want ErrBadURL", host, err)
		}
		if err := fetch.CheckURL("http://" + host + "/"); !errors.Is(err, fetch.ErrBadURL) {
			t.Errorf("CheckURL %q: %v, want ErrBadURL", host, err)
		}
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("numeric hosts were looked up %d times", n)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}
	if err := fetch.CheckURL("https://b\u00fccher.example/a.jpg"); err != nil {
		t.Errorf("an IDN name: %v", err)
	}
}
