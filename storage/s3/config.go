package s3

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Defaults of Config.
const (
	// DefaultEndpoint is AWS S3; minio-go picks the regional host from Region.
	DefaultEndpoint = "s3.amazonaws.com"
	// DefaultRegion is used when Region is empty. R2 wants "auto".
	DefaultRegion = "us-east-1"
	// DefaultPartSize is the multipart part size, S3's minimum. Put with
	// size -1 holds one part in memory per upload (minio-go's own default
	// for unknown sizes is ~537 MiB), and 5 MiB x 10,000 parts still allows
	// 48 GiB objects, far above any image upload.
	DefaultPartSize = 5 << 20
	// ImmutableCacheControl is sent with public objects: their keys embed
	// a fresh media id, so the bytes under a URL never change.
	ImmutableCacheControl = "public, max-age=31536000, immutable"
)

// Config selects a bucket on an S3-compatible service. The zero value of
// every optional field is the sane choice for AWS S3.
type Config struct {
	// Endpoint is the host[:port] of the S3 API, e.g.
	// "<accountid>.r2.cloudflarestorage.com" or "127.0.0.1:7070".
	// "http://" or "https://" in front sets Insecure accordingly.
	// Default DefaultEndpoint (AWS).
	Endpoint string
	// Bucket must exist; New checks it. Required.
	Bucket string
	// Region signs requests. Default DefaultRegion; "auto" for R2.
	Region string
	// AccessKeyID and SecretAccessKey are static credentials. When both are
	// empty, credentials come from the AWS environment variables, the
	// shared credentials file, or the instance/container role, in order.
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken goes with temporary static credentials. Optional.
	SessionToken string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key. Needed for MinIO, versitygw, IP or localhost
	// endpoints; R2 and AWS accept both. Default false (virtual-host).
	PathStyle bool
	// Insecure uses plain HTTP. Default false (HTTPS); only for local
	// test servers.
	Insecure bool
	// PublicURL is where clients fetch objects: the bucket's public domain
	// (R2 custom domain or r2.dev URL, CloudFront, ...), addressing the
	// bucket root. URL returns PublicURL/Prefix/key. Empty: the endpoint
	// URL of the object, which is only readable if the bucket allows
	// anonymous reads (R2 endpoints never do).
	PublicURL string
	// Prefix is prepended ("Prefix/key") to every key, so several
	// pipelines can share one bucket. Optional.
	Prefix string
	// CacheControl returns the Cache-Control header stored with key (the
	// key as given to Put, without Prefix); "" stores none. Default
	// ImmutableExcept("staging/"): staged uploads are private and
	// short-lived, everything else is immutable.
	CacheControl func(key string) string
	// PartSize is the multipart part size, at least 5 MiB. Default
	// DefaultPartSize.
	PartSize uint64
	// Transport replaces minio-go's HTTP transport (custom TLS, proxies,
	// tracing). Optional.
	Transport http.RoundTripper
}

// ImmutableExcept returns a CacheControl rule giving ImmutableCacheControl
// to every key except those starting with one of prefixes, which get none.
func ImmutableExcept(prefixes ...string) func(key string) string {
	return func(key string) string {
		for _, p := range prefixes {
			if strings.HasPrefix(key, p) {
				return ""
			}
		}
		return ImmutableCacheControl
	}
}

// withDefaults returns a copy of c with defaults filled in, the scheme moved
// from Endpoint to Insecure, and the result validated.
func (c Config) withDefaults() (Config, error) {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if scheme, host, ok := strings.Cut(c.Endpoint, "://"); ok {
		switch scheme {
		case "http":
			c.Insecure = true
		case "https":
			c.Insecure = false
		default:
			return c, fmt.Errorf("s3: endpoint %q: scheme must be http or https", c.Endpoint)
		}
		c.Endpoint = strings.TrimRight(host, "/")
	}
	if c.Endpoint == "" || strings.ContainsAny(c.Endpoint, "/?#@ ") {
		return c, fmt.Errorf("s3: endpoint %q: want host[:port], e.g. <accountid>.r2.cloudflarestorage.com", c.Endpoint)
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Bucket == "" {
		return c, errors.New("s3: bucket is required")
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return c, errors.New("s3: set both AccessKeyID and SecretAccessKey, or neither to use the AWS credential chain")
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("s3: public URL %q: want an absolute http(s) URL such as https://cdn.example.com", c.PublicURL)
		}
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	if c.Prefix != "" {
		if err := storage.ValidateKey(c.Prefix); err != nil {
			return c, fmt.Errorf("s3: prefix: %w", err)
		}
	}
	if c.CacheControl == nil {
		c.CacheControl = ImmutableExcept("staging/")
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < 5<<20 {
		return c, fmt.Errorf("s3: part size %d: S3 requires at least 5 MiB", c.PartSize)
	}
	return c, nil
}
