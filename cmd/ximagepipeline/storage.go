package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
)

// s3Options select an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO...)
// instead of the local directory. Setting --s3-bucket turns S3 on (every
// other option needs it); the public URL of stored files is then
// --public-url (the CDN or the bucket's public domain), else the endpoint's
// URL of the object.
type s3Options struct {
	endpoint        string
	bucket          string
	region          string
	accessKeyID     string
	secretAccessKey string
	sessionToken    string
	pathStyle       bool
	prefix          string
}

func (o *s3Options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.bucket, "s3-bucket", "", "S3 bucket of the stored files; setting it selects S3 storage instead of --data-dir (the bucket must exist); the other --s3-* options need it")
	fs.StringVar(&o.endpoint, "s3-endpoint", s3.DefaultEndpoint, "S3 API host[:port]; http:// in front for plain HTTP; R2: <accountid>.r2.cloudflarestorage.com")
	fs.StringVar(&o.region, "s3-region", s3.DefaultRegion, `S3 region that signs requests ("auto" for R2)`)
	fs.StringVar(&o.accessKeyID, "s3-access-key-id", "", "S3 access key id (default: the AWS credential chain: AWS_ACCESS_KEY_ID, ~/.aws/credentials, instance role)")
	fs.StringVar(&o.secretAccessKey, "s3-secret-access-key", "", "S3 secret access key (prefer the environment variable S3_SECRET_ACCESS_KEY to a flag)")
	fs.StringVar(&o.sessionToken, "s3-session-token", "", "S3 session token of temporary credentials")
	fs.BoolVar(&o.pathStyle, "s3-path-style", false, "address the bucket as endpoint/bucket/key (MinIO, IP endpoints) instead of bucket.endpoint/key")
	fs.StringVar(&o.prefix, "s3-prefix", "", "key prefix in the bucket, so that several deployments can share it")
}

// dependents: every --s3-* option needs the bucket.
func (o *s3Options) dependents() []dependent {
	return []dependent{{
		names: []string{"s3-endpoint", "s3-region", "s3-access-key-id", "s3-secret-access-key", "s3-session-token", "s3-path-style", "s3-prefix"},
		on:    o.bucket != "",
		need:  "--s3-bucket (without it, files are stored under --data-dir)",
	}}
}

// open returns the S3 store, or nil (the default local directory) when no
// bucket is set. It checks the bucket answers, so a wrong endpoint, key or
// bucket shows at start-up.
func (o *s3Options) open(ctx context.Context, publicURL string) (storage.Storage, error) {
	if o.bucket == "" {
		return nil, nil
	}
	st, err := s3.New(ctx, s3.Config{
		Endpoint:        o.endpoint,
		Bucket:          o.bucket,
		Region:          o.region,
		AccessKeyID:     o.accessKeyID,
		SecretAccessKey: o.secretAccessKey,
		SessionToken:    o.sessionToken,
		PathStyle:       o.pathStyle,
		PublicURL:       publicURL,
		Prefix:          o.prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("%w (options --s3-*)", err)
	}
	return st, nil
}

// pipelineConfig is config() plus what needs a context or more than one
// option: the storage (S3 when --s3-bucket is set) and the job timings.
func (o *options) pipelineConfig(ctx context.Context) (ximagepipeline.Config, error) {
	cfg := o.config()
	cfg.JobTimeout, cfg.RescueAfter, cfg.CleanupInterval = o.jobTimeout, o.rescueAfter, o.cleanupInterval
	if err := o.ingest.apply(&cfg, o.given); err != nil {
		return cfg, err
	}
	st, err := o.s3.open(ctx, o.publicURL)
	if err != nil {
		return cfg, err
	}
	cfg.Storage = st
	if cfg.Moderator, err = o.moderation.open(ctx); err != nil {
		return cfg, err
	}
	cfg.Moderation = o.moderation.policy()
	return cfg, nil
}
