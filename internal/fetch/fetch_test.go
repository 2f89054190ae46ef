package fetch_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/fetch"
)

// server is an HTTP server on a chosen local address that counts the
// requests it gets, so a test can show that a refused fetch never reached it.
type server struct {
	URL  string // http://host:port
	Port int
	hits atomic.Int64
}

// serve starts h on addr ("127.0.0.1:0", "[::1]:0", "127.0.0.2:8080").
func serve(t *testing.T, addr string, h http.HandlerFunc) *server {
	t.Helper()
	s, err := tryServe(t, addr, h)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return s
}

func tryServe(t *testing.T, addr string, h http.HandlerFunc) (*server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &server{Port: l.Addr().(*net.TCPAddr).Port}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s, nil
}

// servePair starts a on 127.0.0.1 and b on 127.0.0.2 with the same port, so
// that one host name can point at either.
func servePair(t *testing.T, a, b http.HandlerFunc) (*server, *server) {
	t.Helper()
	for range 10 {
		sa := serve(t, "127.0.0.1:0", a)
		if sb, err := tryServe(t, "127.0.0.2:"+strconv.Itoa(sa.Port), b); err == nil {
			return sa, sb
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

func ok(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }
}

func redirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
}

// names is a Resolve hook answering from a table; other names do not exist
// (tests never ask the real DNS).
func names(table map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range table[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
}

func prefixes(cidrs ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		out = append(out, netip.MustParsePrefix(c))
	}
	return out
}

// get fetches and reads the whole body.
func get(t *testing.T, f *fetch.Fetcher, url string) ([]byte, *fetch.Response, error) {
	t.Helper()
	resp, err := f.Get(t.Context(), url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp, err
}

func wantErr(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	for _, other := range []error{fetch.ErrBadURL, fetch.ErrForbiddenAddress, fetch.ErrTooManyRedirects,
		fetch.ErrTooLarge, fetch.ErrTimeout, fetch.ErrHTTPStatus, fetch.ErrNetwork} {
		if other != kind && errors.Is(err, other) {
			t.Fatalf("err = %v is %v as well as %v", err, other, kind)
		}
	}
}

// TestLocalRefusedByDefault aims at servers on this machine by every
// spelling of its addresses: none is fetched, none is reached.
func TestLocalRefusedByDefault(t *testing.T) {
	t.Parallel()
	v4 := serve(t, "127.0.0.1:0", ok("secret"))
	v6 := serve(t, "[::1]:0", ok("secret"))
	p4, p6 := strconv.Itoa(v4.Port), strconv.Itoa(v6.Port)
	f := &fetch.Fetcher{Resolve: names(map[string][]string{
		"images.example.com":       {"127.0.0.1"},
		"cdn.example.com":          {"::ffff:127.0.0.1"},
		"v6.example.com":           {"::1"},
		"metadata.google.internal": {"169.254.169.254"},
	})}
	urls := []string{
		"http://127.0.0.1:" + p4 + "/",
		"http://127.0.0.1.:" + p4 + "/",
		"http://0.0.0.0:" + p4 + "/", // connect(2) to 0.0.0.0 reaches the local host
		"http://[::ffff:127.0.0.1]:" + p4 + "/",
		"http://[::ffff:7f00:1]:" + p4 + "/",
		"http://[0:0:0:0:0:ffff:7f00:0001]:" + p4 + "/",
		"http://[::127.0.0.1]:" + p4 + "/",
		"http://[64:ff9b::127.0.0.1]:" + p4 + "/",
		"http://[2002:7f00:1::]:" + p4 + "/",
		"http://images.example.com:" + p4 + "/",
		"http://cdn.example.com:" + p4 + "/",
		"https://images.example.com:" + p4 + "/",
		"http://[::1]:" + p6 + "/",
		"http://[::]:" + p6 + "/",
		"http://[fe80::1%25lo]:" + p6 + "/",
		"http://v6.example.com:" + p6 + "/",
		"http://169.254.169.254/latest/meta-data/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
		"http://224.0.0.1/", "http://255.255.255.255/",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			_, _, err := get(t, f, u)
			wantErr(t, err, fetch.ErrForbiddenAddress)
		})
	}
	t.Cleanup(func() {
		if n := v4.hits.Load() + v6.hits.Load(); n != 0 {
			t.Errorf("the local servers got %d requests", n)
		}
	})
}

// TestLocalhostByName uses the system's resolver: "localhost" comes back as
// 127.0.0.1 or, from Go's resolver, as ::ffff:127.0.0.1; both are refused.
func TestLocalhostByName(t *testing.T) {
	t.Parallel()
	s := serve(t, "127.0.0.1:0", ok("secret"))
	_, _, err := get(t, &fetch.Fetcher{}, "http://localhost:"+strconv.Itoa(s.Port)+"/")
	wantErr(t, err, fetch.ErrForbiddenAddress)
	if s.hits.Load() != 0 {
		t.Error("the server was reached")
	}
}

// TestNumericHosts tries the IPv4 spellings that getaddrinfo turns into
// 127.0.0.1 and Go's resolver looks up as names. Each is refused as a bad
// URL before any lookup: the Resolve hook here answers 127.0.0.1 to every
// name, as getaddrinfo would, and must not be asked. The same URLs with
// the system's resolver must not reach the server either.
func TestNumericHosts(t *testing.T) {
	t.Parallel()
	s := serve(t, "127.0.0.1:0", ok("secret"))
	p := strconv.Itoa(s.Port)
	var lookups atomic.Int64
	likeGetaddrinfo := func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	hosts := []string{"2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "017700000001", "127.1", "127.0.1", "0x7F.1", "127.0.0.01", "2130706433.",
		// The same, written with characters IDNA's lookup mapping turns into
		// ASCII digits and dots, as net/http does to a host before it dials.
		"\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13", // fullwidth 2130706433
		"127\u30021",                // 127。1 (ideographic full stop)
		"\uff10x7f000001",           // fullwidth 0, then x7f000001
		"127\uff0e0\uff0e0\uff0e01", // fullwidth full stops: 127.0.0.01
		"\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13\u3002", // with a final dot
		"xn--a\u00e9.example", // refused by IDNA itself
	}
	for _, host := range hosts {
		u := "http://" + host + ":" + p + "/"
		t.Run(host, func(t *testing.T) {
			t.Parallel()
			for _, f := range []*fetch.Fetcher{{Resolve: likeGetaddrinfo}, {}} {
				_, _, err := get(t, f, u)
				wantErr(t, err, fetch.ErrBadURL)
			}
			wantErr(t, fetch.CheckURL(u), fetch.ErrBadURL)
		})
	}
	t.Cleanup(func() {
		if n := lookups.Load(); n != 0 {
			t.Errorf("numeric hosts were looked up %d times", n)
		}
		if n := s.hits.Load(); n != 0 {
			t.Errorf("the server got %d requests", n)
		}
	})
}

// TestIDNName: an internationalised name passes the URL rules that refuse
// the numeric spellings above.
func TestIDNName(t *testing.T) {
	t.Parallel()
	if err := fetch.CheckURL("https://b\u00fccher.example/a.jpg"); err != nil {
		t.Errorf("an IDN name: %v", err)
	}
}

// TestAllow shows the operator's list opening exactly what it lists.
func TestAllow(t *testing.T) {
	t.Parallel()
	v4 := serve(t, "127.0.0.1:0", ok("four"))
	v6 := serve(t, "[::1]:0", ok("six"))
	p4, p6 := strconv.Itoa(v4.Port), strconv.Itoa(v6.Port)
	tests := []struct {
		allow []netip.Prefix
		url   string
		want  string // "" for refused
	}{
		{prefixes("127.0.0.0/8"), "http://127.0.0.1:" + p4 + "/", "four"},
		{prefixes("127.0.0.0/8"), "http://[::ffff:127.0.0.1]:" + p4 + "/", "four"}, // the same address
		{prefixes("127.0.0.0/8"), "http://localhost:" + p4 + "/", "four"},
		{prefixes("127.0.0.0/8"), "http://[::1]:" + p6 + "/", ""},
		{prefixes("::1/128"), "http://[::1]:" + p6 + "/", "six"},
		{prefixes("::1/128"), "http://127.0.0.1:" + p4 + "/", ""},
		{prefixes("127.0.0.2/32"), "http://127.0.0.1:" + p4 + "/", ""},
		{prefixes("10.0.0.0/8", "127.0.0.1/32"), "http://127.0.0.1:" + p4 + "/", "four"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.allow, tc.url), func(t *testing.T) {
			t.Parallel()
			got, resp, err := get(t, &fetch.Fetcher{Allow: tc.allow}, tc.url)
			if tc.want == "" {
				wantErr(t, err, fetch.ErrForbiddenAddress)
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			if resp.Size != int64(len(tc.want)) {
				t.Errorf("Size = %d, want %d", resp.Size, len(tc.want))
			}
		})
	}
}

// TestRedirectToForbidden starts at an allowed server (the operator
// allows 127.0.0.1 alone, standing in for a public host) that redirects to
// one that is not: 127.0.0.2, a name resolving to it, [::1], the metadata
// address. Each second hop is refused and its server never reached; a
// redirect to an allowed address still works.
func TestRedirectToForbidden(t *testing.T) {
	t.Parallel()
	inner := serve(t, "127.0.0.2:0", ok("internal"))
	inner6 := serve(t, "[::1]:0", ok("internal"))
	pi, pi6 := strconv.Itoa(inner.Port), strconv.Itoa(inner6.Port)
	targets := map[string]string{
		"/ip":       "http://127.0.0.2:" + pi + "/",
		"/name":     "http://internal.test:" + pi + "/",
		"/mapped":   "http://[::ffff:127.0.0.2]:" + pi + "/",
		"/v6":       "http://[::1]:" + pi6 + "/",
		"/metadata": "http://169.254.169.254/latest/meta-data/",
		"/public":   "/fine", // same server: allowed
	}
	outer := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fine" {
			io.WriteString(w, "public")
			return
		}
		http.Redirect(w, r, targets[r.URL.Path], http.StatusFound)
	})
	f := &fetch.Fetcher{
		Allow: prefixes("127.0.0.1/32"),
		Resolve: names(map[string][]string{
			"public.test":   {"127.0.0.1"},
			"internal.test": {"127.0.0.2"},
		}),
	}
	start := "http://public.test:" + strconv.Itoa(outer.Port)
	for path := range targets {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			got, resp, err := get(t, f, start+path)
			if path == "/public" {
				if err != nil || string(got) != "public" || resp.URL.Path != "/fine" {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			wantErr(t, err, fetch.ErrForbiddenAddress)
		})
	}
	t.Cleanup(func() {
		if n := inner.hits.Load() + inner6.hits.Load(); n != 0 {
			t.Errorf("the internal servers got %d requests", n)
		}
	})
}

// TestDNSRebinding plays a name that answers an allowed address first and a
// forbidden one next, with a server on each, on the same port. The first
// server redirects to the same name: the second connection looks the name
// up again, checks the new answer, and never reaches the second server.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	var lookups atomic.Int64
	rebind := func(_ context.Context, host string) ([]netip.Addr, error) {
		if lookups.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, nil
	}
	first, second := servePair(t, redirect("/again"), ok("internal"))
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), Resolve: rebind}
	_, _, err := get(t, f, "http://rebind.test:"+strconv.Itoa(first.Port)+"/")
	wantErr(t, err, fetch.ErrForbiddenAddress)
	if first.hits.Load() != 1 || second.hits.Load() != 0 || lookups.Load() != 2 {
		t.Errorf("first server %d requests, second %d, lookups %d; want 1, 0, 2", first.hits.Load(), second.hits.Load(), lookups.Load())
	}
}

// TestMixedAnswer: a name answering a forbidden and an allowed address is
// fetched from the allowed one only.
func TestMixedAnswer(t *testing.T) {
	t.Parallel()
	good, bad := servePair(t, ok("public"), ok("internal"))
	f := &fetch.Fetcher{
		Allow:   prefixes("127.0.0.1/32"),
		Resolve: names(map[string][]string{"mixed.test": {"127.0.0.2", "::ffff:127.0.0.2", "127.0.0.1"}}),
	}
	got, _, err := get(t, f, "http://mixed.test:"+strconv.Itoa(good.Port)+"/")
	if err != nil || string(got) != "public" {
		t.Fatalf("got %q, %v", got, err)
	}
	if bad.hits.Load() != 0 {
		t.Error("the forbidden address was connected to")
	}
}

func TestBadURLs(t *testing.T) {
	t.Parallel()
	s := serve(t, "127.0.0.1:0", ok("x"))
	p := strconv.Itoa(s.Port)
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.0/8")} // only the URL can be wrong
	urls := []string{
		"", "photo.jpg", "/photo.jpg", "//127.0.0.1:" + p + "/",
		"ftp://127.0.0.1:" + p + "/", "file:///etc/passwd", "gopher://127.0.0.1:" + p + "/",
		"javascript:alert(1)", "data:image/png;base64,AAAA", "http:127.0.0.1",
		"http://", "http:///photo.jpg", "http://:" + p + "/",
		"http://user:pass@127.0.0.1:" + p + "/", "http://user@127.0.0.1:" + p + "/",
		"http://127.0.0.1:0/", "http://127.0.0.1:65536/", "http://127.0.0.1:-1/", "http://[::1",
		"http://127.0.0.1:" + p + "/" + strings.Repeat("a", fetch.MaxURLLen),
	}
	for _, u := range urls {
		_, _, err := get(t, f, u)
		if !errors.Is(err, fetch.ErrBadURL) {
			t.Errorf("%.60q: err = %v, want ErrBadURL", u, err)
		}
	}
	if s.hits.Load() != 0 {
		t.Errorf("the server got %d requests", s.hits.Load())
	}
}

// TestRedirectToBadURL: the URL rules hold for every hop; in particular a
// redirect cannot add credentials for the next server to receive.
func TestRedirectToBadURL(t *testing.T) {
	t.Parallel()
	var target atomic.Int64
	var s *server
	s = serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		p := strconv.Itoa(s.Port)
		switch r.URL.Path {
		case "/target":
			target.Add(1)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://127.0.0.1:"+p+"/target", http.StatusFound)
		case "/credentials":
			http.Redirect(w, r, "http://admin:hunter2@127.0.0.1:"+p+"/target", http.StatusFound)
		case "/numeric":
			http.Redirect(w, r, "http://2130706433:"+p+"/target", http.StatusFound)
		}
	})
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.0/8")}
	for _, path := range []string{"/file", "/ftp", "/credentials", "/numeric"} {
		_, _, err := get(t, f, s.URL+path)
		if !errors.Is(err, fetch.ErrBadURL) {
			t.Errorf("%s: err = %v, want ErrBadURL", path, err)
		}
	}
	if target.Load() != 0 {
		t.Errorf("the redirect target got %d requests", target.Load())
	}
}

func TestRedirectLimit(t *testing.T) {
	t.Parallel()
	// /n redirects to /n+1 while n < stop (from the query), then answers.
	handler := func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		stop, _ := strconv.Atoi(r.URL.Query().Get("stop"))
		if n < stop {
			http.Redirect(w, r, fmt.Sprintf("/%d?stop=%d", n+1, stop), http.StatusFound)
			return
		}
		fmt.Fprintf(w, "hop %d", n)
	}
	tests := []struct {
		max, redirects int
		wantHits       int64
		wantErr        error
	}{
		{0, 3, 4, nil}, // the default, 3
		{0, 4, 4, fetch.ErrTooManyRedirects},
		{0, 1000, 4, fetch.ErrTooManyRedirects},
		{1, 1, 2, nil},
		{1, 2, 2, fetch.ErrTooManyRedirects},
		{-1, 0, 1, nil},
		{-1, 1, 1, fetch.ErrTooManyRedirects},
		{10, 10, 11, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("max=%d/redirects=%d", tc.max, tc.redirects), func(t *testing.T) {
			t.Parallel()
			s := serve(t, "127.0.0.1:0", handler)
			f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), MaxRedirects: tc.max}
			got, _, err := get(t, f, fmt.Sprintf("%s/0?stop=%d", s.URL, tc.redirects))
			if tc.wantErr != nil {
				wantErr(t, err, tc.wantErr)
			} else if err != nil || string(got) != fmt.Sprintf("hop %d", tc.redirects) {
				t.Fatalf("got %q, %v", got, err)
			}
			if s.hits.Load() != tc.wantHits {
				t.Errorf("%d requests, want %d", s.hits.Load(), tc.wantHits)
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	t.Parallel()
	const max = 1000
	payload := bytes.Repeat([]byte("0123456789"), 300) // 3000 bytes
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Has("chunked") {
			w.Write(payload[:1])
			w.(http.Flusher).Flush() // no Content-Length from here on
			w.Write(payload[1:n])
			return
		}
		if r.URL.Query().Has("endless") {
			for r.Context().Err() == nil {
				if _, err := w.Write(payload); err != nil {
					return
				}
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(payload[:n])
	})
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), MaxBytes: max}
	tests := []struct {
		query    string
		wantSize int64 // Response.Size
		wantErr  error
		getFails bool // refused from Content-Length, before reading
	}{
		{"n=1000", 1000, nil, false},
		{"n=999", 999, nil, false},
		{"n=1001", 0, fetch.ErrTooLarge, true},
		{"n=3000", 0, fetch.ErrTooLarge, true},
		{"n=1000&chunked", -1, nil, false},
		{"n=1001&chunked", -1, fetch.ErrTooLarge, false},
		{"n=3000&chunked", -1, fetch.ErrTooLarge, false},
		{"endless", -1, fetch.ErrTooLarge, false},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			resp, err := f.Get(t.Context(), s.URL+"/?"+tc.query)
			if tc.getFails {
				wantErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Size != tc.wantSize {
				t.Errorf("Size = %d, want %d", resp.Size, tc.wantSize)
			}
			got, err := io.ReadAll(resp.Body)
			if tc.wantErr != nil {
				wantErr(t, err, tc.wantErr)
				if len(got) != max {
					t.Errorf("read %d bytes before the error, want %d", len(got), max)
				}
				// The error sticks.
				if _, err := resp.Body.Read(make([]byte, 10)); !errors.Is(err, fetch.ErrTooLarge) {
					t.Errorf("next Read: %v, want ErrTooLarge", err)
				}
				return
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(tc.query, "&")[0], "n="))
			if err != nil || !bytes.Equal(got, payload[:n]) {
				t.Errorf("read %d bytes, %v; want the %d sent", len(got), err, n)
			}
		})
	}
}

// TestNoDecompression: a gzip answer is returned as sent, so the size
// limit counts the bytes that came over the wire and a small compressed
// body cannot expand past it.
func TestNoDecompression(t *testing.T) {
	t.Parallel()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(make([]byte, 10<<20))
	zw.Close()
	var acceptEncoding atomic.Value
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
	})
	got, _, err := get(t, &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), MaxBytes: 100 << 10}, s.URL)
	if err != nil || !bytes.Equal(got, zipped.Bytes()) {
		t.Fatalf("got %d bytes, %v; want the %d gzip bytes as sent", len(got), err, zipped.Len())
	}
	if ae := acceptEncoding.Load(); ae != "" {
		t.Errorf("Accept-Encoding %q sent", ae)
	}
}

// TestTimeout holds the answer back at each stage; the short Timeout ends
// every fetch with ErrTimeout. The servers wait for the client to go away,
// never for a clock.
func TestTimeout(t *testing.T) {
	t.Parallel()
	hold := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	trickle := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("GIF89a"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	slowHeaders := serve(t, "127.0.0.1:0", hold)
	slowBody := serve(t, "127.0.0.1:0", trickle)
	slowRedirect := serve(t, "127.0.0.1:0", redirect(slowHeaders.URL+"/"))
	// A listener that never accepts: the TCP handshake completes in the
	// kernel, the HTTP answer never comes. Nothing here reads the request.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	slowDNS := func(ctx context.Context, host string) ([]netip.Addr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), Timeout: 200 * time.Millisecond, Resolve: slowDNS}
	for name, u := range map[string]string{
		"headers":  slowHeaders.URL,
		"redirect": slowRedirect.URL,
		"silent":   "http://" + silent.Addr().String() + "/",
		"dns":      "http://slow.test/",
		"body":     slowBody.URL,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, _, err := get(t, f, u)
			wantErr(t, err, fetch.ErrTimeout)
			if name == "body" && string(got) != "GIF89a" {
				t.Errorf("read %q before the timeout, want the bytes sent", got)
			}
		})
	}
}

// TestCallerCancels: the caller's own cancellation is reported as such,
// not as a timeout of the fetch.
func TestCallerCancels(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var once sync.Once
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := (&fetch.Fetcher{Allow: prefixes("127.0.0.1/32")}).Get(ctx, s.URL)
	if !errors.Is(err, context.Canceled) || errors.Is(err, fetch.ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code) // a 3xx here has no Location: not followed
		io.WriteString(w, "page")
	})
	f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32")}
	for _, code := range []int{404, 403, 500, 503, 302, 304} {
		_, _, err := get(t, f, s.URL+"/"+strconv.Itoa(code))
		wantErr(t, err, fetch.ErrHTTPStatus)
		var se *fetch.StatusError
		if !errors.As(err, &se) || se.Code != code {
			t.Errorf("%d: err = %#v, want a StatusError with the code", code, err)
		}
	}
	if got, _, err := get(t, f, s.URL+"/203"); err != nil || string(got) != "page" {
		t.Errorf("203: %q, %v; want the body", got, err)
	}
}

// TestRequestHeaders checks what a fetched server learns: the User-Agent
// and Accept, no Referer after a redirect, nothing else of ours.
func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		seen.Store(r.Header.Clone())
	})
	for _, ua := range []string{"", "acme-images/2"} {
		f := &fetch.Fetcher{Allow: prefixes("127.0.0.1/32"), UserAgent: ua}
		if _, _, err := get(t, f, s.URL+"/start"); err != nil {
			t.Fatal(err)
		}
		h := seen.Load().(http.Header)
		want := ua
		if want == "" {
			want = fetch.DefaultUserAgent
		}
		if h.Get("User-Agent") != want || h.Get("Accept") != "image/*" {
			t.Errorf("User-Agent %q, Accept %q; want %q, image/*", h.Get("User-Agent"), h.Get("Accept"), want)
		}
		for _, k := range []string{"Referer", "Authorization", "Cookie", "Accept-Encoding", "Proxy-Authorization"} {
			if v := h.Get(k); v != "" {
				t.Errorf("%s: %q sent", k, v)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, f := range []*fetch.Fetcher{
		{MaxBytes: -1},
		{Timeout: -time.Second},
		{Allow: []netip.Prefix{{}}},
	} {
		if err := f.Validate(); err == nil {
			t.Errorf("%+v: Validate = nil, want an error", f)
		}
		if _, err := f.Get(t.Context(), "http://example.com/"); err == nil {
			t.Errorf("%+v: Get worked", f)
		}
	}
	if err := (&fetch.Fetcher{}).Validate(); err != nil {
		t.Errorf("zero Fetcher: %v", err)
	}
}
