// Package s3 stores objects in a bucket of any S3-compatible service (AWS S3,
// Cloudflare R2, MinIO, versitygw...) through minio-go. It is the backend for
// more than one machine: API servers and workers share the bucket, and
// clients fetch variants from the bucket's public domain or CDN.
//
// Cloudflare R2 (the S3 endpoint is never public: serve the bucket through
// a custom domain or its r2.dev URL and give that as PublicURL):
//
//	store, err := s3.New(ctx, s3.Config{
//		Endpoint:        "<accountid>.r2.cloudflarestorage.com",
//		Region:          "auto",
//		Bucket:          "images",
//		AccessKeyID:     os.Getenv("R2_ACCESS_KEY_ID"),
//		SecretAccessKey: os.Getenv("R2_SECRET_ACCESS_KEY"),
//		PublicURL:       "https://images.example.com",
//	})
//
// AWS S3 (credentials from the environment, shared file or instance role
// when the keys are empty; PublicURL a CloudFront distribution, or empty
// for https://<bucket>.s3.<region>.amazonaws.com/<key> on a public bucket):
//
//	store, err := s3.New(ctx, s3.Config{
//		Region:    "eu-west-1",
//		Bucket:    "my-images",
//		PublicURL: "https://d111111abcdef8.cloudfront.net",
//	})
//
// Objects are written with the given Content-Type and, except under
// staging/, Cache-Control ImmutableCacheControl (see Config.CacheControl).
// A Put is complete or absent: S3 makes an object visible only when its
// single PUT or multipart upload completes, and minio-go aborts a failed
// multipart upload. Uploads abandoned by a crashed process stay invisible
// but billed; give the bucket a lifecycle rule that aborts incomplete
// multipart uploads after a day.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Store is a storage.Storage on one bucket. It is safe for concurrent use.
type Store struct {
	client *minio.Client
	cfg    Config
	base   string // URL prefix of objects: PublicURL or the endpoint URL, plus Prefix
}

var _ storage.Storage = (*Store)(nil)

// New validates cfg and connects, failing when the bucket cannot be reached
// or does not exist, so a wrong endpoint, key or bucket name shows at start-up
// rather than at the first upload.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s := &Store{client: client, cfg: cfg, base: baseURL(cfg)}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// baseURL is what URL puts before the key.
func baseURL(cfg Config) string {
	base := cfg.PublicURL
	if base == "" {
		scheme := "https://"
		if cfg.Insecure {
			scheme = "http://"
		}
		host := cfg.Endpoint
		if host == DefaultEndpoint && cfg.Region != DefaultRegion {
			// Objects outside us-east-1 answer on the regional host; the
			// global one only redirects.
			host = "s3." + cfg.Region + ".amazonaws.com"
		}
		if cfg.PathStyle {
			base = scheme + host + "/" + url.PathEscape(cfg.Bucket)
		} else {
			base = scheme + cfg.Bucket + "." + host
		}
	}
	if cfg.Prefix != "" {
		base += "/" + escapePath(cfg.Prefix)
	}
	return base
}

// Client is the underlying minio-go client, for operations the Storage
// interface does not cover (presigned URLs, bucket policies, tests).
func (s *Store) Client() *minio.Client { return s.client }

// Bucket is the configured bucket.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// ObjectKey is the bucket key of key: Prefix/key, or key without a Prefix.
func (s *Store) ObjectKey(key string) string {
	if s.cfg.Prefix == "" {
		return key
	}
	return s.cfg.Prefix + "/" + key
}

// Put uploads r. A known size up to PartSize goes in one PUT, anything
// larger or of size -1 as a multipart upload holding one part in memory at
// a time. A reader shorter or longer than a known size fails the Put.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if size >= 0 {
		// net/http drains a body longer than its Content-Length to report
		// the mismatch, ignoring ctx: an endless reader would hang the Put.
		// One byte past size is enough to fail it.
		r = io.LimitReader(r, size+1)
	}
	_, err := s.client.PutObject(ctx, s.cfg.Bucket, s.ObjectKey(key), r, size, minio.PutObjectOptions{
		ContentType:  contentType,
		CacheControl: s.cfg.CacheControl(key),
		PartSize:     s.cfg.PartSize,
	})
	if err != nil {
		return fmt.Errorf("s3: put %q: %w", key, err)
	}
	return nil
}

// Get opens the object. The first request is made here, not at the first
// Read, so a missing key is reported as storage.ErrNotFound at once.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, s.ObjectKey(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3: get %q: %w", key, err)
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if isNotFound(err) {
			return nil, fmt.Errorf("s3: get %q: %w", key, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("s3: get %q: %w", key, err)
	}
	return obj, nil
}

// Delete removes the object; S3 already answers a missing key with success.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.ObjectKey(key), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3: delete %q: %w", key, err)
	}
	return nil
}

// List pages through ListObjectsV2 (recursive) and reports keys without
// Prefix. "Folder" marker objects (keys ending in '/') are skipped: they are
// not objects the pipeline wrote.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	strip := ""
	if s.cfg.Prefix != "" {
		strip = s.cfg.Prefix + "/"
	}
	for obj := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{
		Prefix:    strip + prefix,
		Recursive: true,
	}) {
		if obj.Err != nil {
			return fmt.Errorf("s3: list %q: %w", prefix, obj.Err)
		}
		key, ok := strings.CutPrefix(obj.Key, strip)
		if !ok || strings.HasSuffix(key, "/") {
			continue
		}
		if err := fn(storage.Object{Key: key, Size: obj.Size, Modified: obj.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// URL is PublicURL/[Prefix/]key, or without PublicURL the object's endpoint
// URL (path-style endpoint/bucket/key or virtual-host bucket.endpoint/key).
// Key segments are escaped, a no-op for the keys of the storage layout.
func (s *Store) URL(key string) string {
	return s.base + "/" + escapePath(key)
}

// Ping checks that the bucket exists and the credentials may see it.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("s3: ping bucket %q at %s: %w (check Endpoint, Region and credentials)", s.cfg.Bucket, s.cfg.Endpoint, err)
	}
	if !ok {
		return fmt.Errorf("s3: bucket %q does not exist at %s: create it, or fix Bucket/Endpoint", s.cfg.Bucket, s.cfg.Endpoint)
	}
	return nil
}

// isNotFound reports S3's "no such key". minio-go's ErrorResponse is matched
// with errors.As, as it may arrive wrapped.
func isNotFound(err error) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	return er.Code == minio.NoSuchKey || er.StatusCode == 404 && er.Code != minio.NoSuchBucket
}

// escapePath escapes each '/'-separated segment of key for use in a URL path.
func escapePath(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}
