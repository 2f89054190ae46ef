// Package fetch downloads an image from a URL a client gave, for ingest
// from a URL, without letting that URL reach what the server can reach and
// the client cannot (server-side request forgery).
//
// The rule is about addresses, not names: every connection, the first and
// each redirect's (keep-alives are off, so every hop dials anew), is made to
// an address checked right before connecting, after DNS. A fetch connects
// only to public unicast addresses: never loopback, private (RFC 1918,
// RFC 4193), link-local (169.254/16, where cloud metadata services answer,
// and fe80::/10), carrier-grade NAT, unspecified, multicast, broadcast or
// reserved ranges, nor the IPv4-mapped or NAT64 spellings of those, unless
// the operator lists the address in Fetcher.Allow. Since the check is on
// the address actually dialled, a name that resolves to one of those
// (localhost, metadata.google.internal, a DNS rebinding attacker's name that
// answers a public address first and 127.0.0.1 next) is refused without a
// list of names; and the resolved address is the one dialled, so there is
// no second lookup to rebind. Hosts written as IPv4 numbers in other forms
// (http://2130706433/, http://0177.0.0.1/, http://127.1/), which some
// resolvers turn into addresses and others look up as names, are refused as
// bad URLs before any lookup.
//
// Proxies from the environment are never used (through a proxy, the address
// dialled would be the proxy's); URLs with credentials are refused at every
// hop; the total time, the number of redirects and the body size are
// bounded. The body is returned as it came: the pipeline sniffs its type
// from the bytes, never from Content-Type.
//
// Errors wrap one of the Err values below, so the upload path can answer
// each kind with its own code; their text names addresses and is for logs,
// not for clients.
package fetch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Defaults of Fetcher.
const (
	// DefaultMaxBytes is the pipeline's default maxFileSize, 50 MiB.
	DefaultMaxBytes = 50 << 20
	// DefaultTimeout bounds a whole fetch: lookups, connections, redirects,
	// headers and body.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRedirects is how many redirects a fetch follows.
	DefaultMaxRedirects = 3
	// DefaultUserAgent names the pipeline to the servers it fetches from.
	DefaultUserAgent = "ximagepipeline-fetch/1"
	// MaxURLLen bounds the URLs Get accepts, redirects included.
	MaxURLLen = 8 << 10
)

var (
	// ErrBadURL is a URL that is not absolute http(s) with a host, carries
	// credentials, has a bad port, writes an IPv4 address in a non-standard
	// form, or is longer than MaxURLLen; also a redirect to such a URL.
	ErrBadURL = errors.New("fetch: bad URL")
	// ErrForbiddenAddress is a host, or a redirect's host, whose addresses
	// are all outside the public internet and not allowed by the operator.
	ErrForbiddenAddress = errors.New("fetch: address not allowed")
	// ErrTooManyRedirects is more redirects than MaxRedirects.
	ErrTooManyRedirects = errors.New("fetch: too many redirects")
	// ErrTooLarge is a body over MaxBytes, announced by Content-Length
	// (Get fails) or found while reading (Read fails).
	ErrTooLarge = errors.New("fetch: response too large")
	// ErrTimeout is a fetch that did not finish, body included, within
	// Timeout.
	ErrTimeout = errors.New("fetch: timed out")
	// ErrHTTPStatus is an answer other than 2xx; the error is a
	// *StatusError with the code.
	ErrHTTPStatus = errors.New("fetch: unexpected HTTP status")
	// ErrNetwork is a lookup, connection, TLS or transfer failure.
	ErrNetwork = errors.New("fetch: network error")
)

// StatusError is a non-2xx answer. errors.Is(err, ErrHTTPStatus) holds.
type StatusError struct {
	Code   int    // e.g. 404
	Status string // e.g. "404 Not Found"
}

func (e *StatusError) Error() string { return "fetch: server answered " + e.Status }

// Is makes a StatusError match ErrHTTPStatus.
func (e *StatusError) Is(target error) bool { return target == ErrHTTPStatus }

// Fetcher downloads with the rules of the package comment. The zero value
// uses every default; a Fetcher is safe for concurrent use and keeps no
// connections between fetches.
type Fetcher struct {
	// MaxBytes is the largest body accepted, in bytes. Default
	// DefaultMaxBytes; the pipeline sets the source type's maxFileSize.
	MaxBytes int64
	// Timeout bounds each Get from its call to the body's last byte.
	// Default DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects is how many redirects a fetch follows. Default
	// DefaultMaxRedirects (0 means the default); negative follows none.
	MaxRedirects int
	// Allow lists addresses the rules refuse that a fetch may connect to
	// anyway, e.g. an internal image server 10.1.2.3/32. An IPv4 prefix
	// also covers the IPv4-mapped form of its addresses. Default none.
	Allow []netip.Prefix
	// UserAgent is sent with every request. Default DefaultUserAgent.
	UserAgent string
	// Resolve looks a host name up. Default net.DefaultResolver's
	// LookupNetIP. Its answers are checked like any other; tests use it to
	// give names to local servers.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Response is a successful (2xx) answer.
type Response struct {
	// Body streams at most MaxBytes bytes: a Read past them fails with
	// ErrTooLarge, and one past Timeout with ErrTimeout. Close it; that
	// also ends the fetch's time.
	Body io.ReadCloser
	// Size is the Content-Length, at most MaxBytes, or -1 when the server
	// sent none.
	Size int64
	// URL is where the body came from, after redirects.
	URL *url.URL
}

// Validate reports settings Get would refuse, so that a server can check
// its configuration at start-up.
func (f *Fetcher) Validate() error {
	if f.MaxBytes < 0 {
		return fmt.Errorf("fetch: MaxBytes %d is negative", f.MaxBytes)
	}
	if f.Timeout < 0 {
		return fmt.Errorf("fetch: Timeout %s is negative", f.Timeout)
	}
	for _, p := range f.Allow {
		if !p.IsValid() {
			return fmt.Errorf("fetch: Allow has an invalid prefix %q", p)
		}
	}
	return nil
}

// Get fetches rawURL with GET, following redirects, and returns the answer
// once its headers are in. A non-2xx answer is an error (*StatusError).
func (f *Fetcher) Get(ctx context.Context, rawURL string) (*Response, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	maxBytes := cmp.Or[int64](f.MaxBytes, DefaultMaxBytes)
	ctx, cancel := context.WithTimeoutCause(ctx, cmp.Or(f.Timeout, DefaultTimeout), ErrTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	req.Header.Set("User-Agent", cmp.Or(f.UserAgent, DefaultUserAgent))
	req.Header.Set("Accept", "image/*")

	resp, err := f.client().Do(req)
	if err != nil {
		cancel()
		return nil, classify(ctx, err)
	}
	fail := func(err error) (*Response, error) {
		resp.Body.Close()
		cancel()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(&StatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	if resp.ContentLength > maxBytes {
		return fail(fmt.Errorf("%w: Content-Length %d, over %d bytes", ErrTooLarge, resp.ContentLength, maxBytes))
	}
	return &Response{
		Body: &body{rc: resp.Body, ctx: ctx, cancel: cancel, max: maxBytes, left: maxBytes},
		Size: resp.ContentLength,
		URL:  resp.Request.URL,
	}, nil
}

// client is a fresh client for one fetch: no proxy, no cookie jar, no
// compression (a server may still send gzip; its bytes are then not an
// image), no keep-alives, and every connection through dial.
func (f *Fetcher) client() *http.Client {
	maxRedirects := f.MaxRedirects
	switch {
	case maxRedirects == 0:
		maxRedirects = DefaultMaxRedirects
	case maxRedirects < 0:
		maxRedirects = 0
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            f.dial,
			DisableKeepAlives:      true,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
			}
			if _, err := checkURL(req.URL.String()); err != nil {
				return fmt.Errorf("redirect: %w", err)
			}
			req.Header.Del("Referer")
			return nil
		},
	}
}

// dial connects to addr ("host:port", as the transport asks) at an address
// that passes checkAddr: the host's addresses are resolved here, each
// checked, and the first allowed one that answers is dialled by its
// literal address, so nothing resolves the name again.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: port %q", ErrBadURL, portStr)
	}
	// "127.0.0.1." is the address 127.0.0.1 to some resolvers: check it
	// as one.
	host = strings.TrimSuffix(host, ".")
	var addrs []netip.Addr
	ip, err := netip.ParseAddr(host)
	isName := err != nil
	if !isName {
		addrs = []netip.Addr{ip}
	} else {
		resolve := f.Resolve
		if resolve == nil {
			resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		addrs, err = resolve(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("%w: lookup %s: %v", ErrNetwork, host, err)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%w: lookup %s: no addresses", ErrNetwork, host)
		}
	}
	d := &net.Dialer{Control: f.control}
	var refused, failed error
	for _, a := range addrs {
		if err := checkAddr(a, f.Allow); err != nil {
			refused = err
			continue
		}
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, ErrForbiddenAddress) { // from control
			refused = err
			continue
		}
		failed = err
	}
	if failed == nil {
		if isName {
			return nil, fmt.Errorf("%s: %w", host, refused)
		}
		return nil, refused
	}
	return nil, fmt.Errorf("%w: %v", ErrNetwork, failed)
}

// control runs right before each connect(2) with the literal address being
// connected to. dial only asks for checked addresses; this second check
// holds the rule at the last moment whatever changes above it.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check %q", ErrForbiddenAddress, address)
	}
	return checkAddr(ap.Addr(), f.Allow)
}

// CheckURL applies the URL rules Get applies to its URL (ErrBadURL), so
// that a caller can refuse a bad URL before it decides to fetch.
func CheckURL(raw string) error {
	_, err := checkURL(raw)
	return err
}

// checkURL parses raw and applies the URL rules (ErrBadURL).
func checkURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadURL, MaxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q, want http or https", ErrBadURL, u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrBadURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: URLs with credentials are not fetched", ErrBadURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q", ErrBadURL, p)
		}
	}
	host, err := lookupHost(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("%w: host %q: %v", ErrBadURL, u.Hostname(), err)
	}
	if !strings.Contains(host, ":") && endsInNumber(host) {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is4() {
			return nil, fmt.Errorf("%w: host %q is an IPv4 address in a non-standard form", ErrBadURL, u.Hostname())
		}
	}
	return u, nil
}

// lookupHost is the host net/http will look up or dial for hostname,
// without a final dot: a name that is not ASCII goes through IDNA's lookup
// mapping first, as net/http does it, which turns fullwidth digits and
// ideographic full stops into ASCII ones ("２１３０７０６４３３" is
// 2130706433, "127。1" is 127.1). The numeric rule must see that form.
func lookupHost(hostname string) (string, error) {
	host := hostname
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			ascii, err := idna.Lookup.ToASCII(host)
			if err != nil {
				return "", err
			}
			host = ascii
			break
		}
	}
	return strings.TrimSuffix(host, "."), nil
}

// endsInNumber is the URL Standard's test for a host to be parsed as an
// IPv4 address: its last label is decimal digits or 0x and hex digits. Such
// a host is either a dotted-decimal address or refused: browsers read
// 0177.0.0.1 and 2130706433 as 127.0.0.1, getaddrinfo does too, Go's own
// resolver looks them up as names.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// classify turns a client error into one of the package's kinds, keeping
// the package's own errors (from dial, control and CheckRedirect) as they
// are.
func classify(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	if ctx.Err() != nil {
		return err // the caller's own cancellation or deadline
	}
	for _, kind := range []error{ErrBadURL, ErrForbiddenAddress, ErrTooManyRedirects, ErrNetwork} {
		if errors.Is(err, kind) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", ErrNetwork, err)
}

// body bounds a response body to max bytes and ends the fetch's time on
// Close.
type body struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelFunc
	max    int64
	left   int64 // bytes that may still be read
	err    error // sticky
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the limit tells a longer body
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, b.max)
		return n, b.err
	}
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.err = classify(b.ctx, err)
		return n, b.err
	}
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
