package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ximagepipeline/ximagepipeline"
)

// ingestOptions are upload tokens (a browser uploads without an API key)
// and ingest from a URL. Tokens are off until --upload-token-secret is
// set, and their lifetimes need it; URL ingest is on by default, and the
// --fetch-* options need it on.
type ingestOptions struct {
	tokenSecret      string
	tokenLifetime    time.Duration
	tokenMaxLifetime time.Duration
	urlIngest        bool
	fetchAllow       []string
	fetchTimeout     time.Duration
	fetchRedirects   int
}

func (o *ingestOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.tokenSecret, "upload-token-secret", "", "secret signing upload tokens (POST {prefix}/upload-tokens), at least 32 bytes: openssl rand -hex 32; the same on every API server (prefer the environment variable UPLOAD_TOKEN_SECRET); without it tokens are off")
	fs.DurationVar(&o.tokenLifetime, "upload-token-lifetime", ximagepipeline.DefaultUploadTokenLifetime, "life of an upload token whose request names none (needs --upload-token-secret)")
	fs.DurationVar(&o.tokenMaxLifetime, "upload-token-max-lifetime", ximagepipeline.DefaultUploadTokenMaxLifetime, "longest life a token request may ask for, at most --staging-grace (needs --upload-token-secret)")
	fs.BoolVar(&o.urlIngest, "url-ingest", true, "let an upload give a url instead of a file, fetched from public addresses only (--url-ingest=false: refuse them); the --fetch-* options need it")
	fs.StringArrayVar(&o.fetchAllow, "fetch-allow", nil, `address or CIDR prefix a url may lead to although it is private, loopback, link-local or reserved, such as an internal image server "10.1.2.3" (repeatable)`)
	fs.DurationVar(&o.fetchTimeout, "fetch-timeout", ximagepipeline.DefaultFetchTimeout, "longest fetch of an upload's url, redirects and body included")
	fs.IntVar(&o.fetchRedirects, "fetch-max-redirects", ximagepipeline.DefaultFetchMaxRedirects, "redirects a fetch follows (0 or less: none)")
}

// dependents: token lifetimes mean nothing without tokens, fetch limits
// nothing without URL ingest.
func (o *ingestOptions) dependents() []dependent {
	return []dependent{{
		names: []string{"upload-token-lifetime", "upload-token-max-lifetime"},
		on:    o.tokenSecret != "",
		need:  "--upload-token-secret (upload tokens are off without it)",
	}, {
		names: []string{"fetch-allow", "fetch-timeout", "fetch-max-redirects"},
		on:    o.urlIngest,
		need:  "URL ingest on (it is by default: drop --url-ingest=false)",
	}}
}

// apply sets cfg's token and URL ingest fields. The lifetimes are set only
// when given: Config's defaults stay within a shorter --staging-grace.
func (o *ingestOptions) apply(cfg *ximagepipeline.Config, given map[string]string) error {
	cfg.UploadTokenSecret = o.tokenSecret
	if _, ok := given["upload-token-lifetime"]; ok {
		cfg.UploadTokenLifetime = o.tokenLifetime
	}
	if _, ok := given["upload-token-max-lifetime"]; ok {
		cfg.UploadTokenMaxLifetime = o.tokenMaxLifetime
	}
	cfg.DisableURLIngest = !o.urlIngest
	cfg.FetchTimeout = o.fetchTimeout
	cfg.FetchMaxRedirects = o.fetchRedirects
	if o.fetchRedirects <= 0 {
		cfg.FetchMaxRedirects = -1 // Config's 0 is the default
	}
	for _, s := range o.fetchAllow {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("--fetch-allow %q: %w", s, err)
		}
		cfg.FetchAllow = append(cfg.FetchAllow, p)
	}
	return nil
}

// parsePrefix reads "10.0.0.0/8" or a single address "10.1.2.3".
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an address or CIDR prefix such as 10.0.0.0/8")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an address or CIDR prefix such as 10.0.0.0/8")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
