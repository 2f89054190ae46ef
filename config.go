package ximagepipeline

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// The model's types, defined once in package media.
type (
	// Fit says how a variant is sized: FitCover or FitInside.
	Fit = media.Fit
	// VariantSpec is one output size. Variants are never enlarged.
	VariantSpec = media.VariantSpec
	// SourceType is what an upload is for (avatar, gallery, ...) and
	// decides which variants are made and how.
	SourceType = media.SourceType
	// Point is a position in 0..1 of the width and height.
	Point = media.Point
	// SourceMetadata are facts about the source as uploaded.
	SourceMetadata = media.SourceFacts
)

const (
	FitCover  = media.FitCover
	FitInside = media.FitInside
)

// Defaults of the contract (section 4).
const (
	DefaultPrefix      = "/image-pipeline"
	DefaultDataDir     = "./data"
	DefaultMaxFileSize = 50 << 20    // 50 MiB
	DefaultMaxPixels   = 100_000_000 // 100 megapixels
	DefaultMaxAttempts = 3
	// DefaultWebhookMaxAttempts bounds the tries of one webhook delivery:
	// with the default 2 s backoff, doubling, the last is 17 to 21 minutes
	// after the first.
	DefaultWebhookMaxAttempts = 10
	// DefaultWebhookTimeout bounds one delivery attempt, answer included
	// (webhook.DefaultTimeout).
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultMaxConcurrentUploads bounds memory: each upload in flight holds
	// up to 512 KB while it is checked and staged (plus, on S3, one 5 MiB
	// part buffer when it is larger than that).
	DefaultMaxConcurrentUploads = 256
	DefaultStagingPath          = "staging"
	DefaultMediaPath            = "media"
	DefaultOriginalsPath        = "originals"
	// DefaultPollInterval is River's own default fetch interval.
	DefaultPollInterval = time.Second
	// DefaultRetryBackoff is the first retry's delay; each later one doubles it.
	DefaultRetryBackoff = 2 * time.Second
	// DefaultJobTimeout bounds one processing attempt; a 100 MP image takes
	// seconds, so a minute is generous and still frees a stuck worker.
	DefaultJobTimeout = time.Minute
	// DefaultRescueAfter is the lease: a job running longer than this (its
	// worker died) is handed to another worker.
	DefaultRescueAfter = 2 * time.Minute
	// DefaultCleanupInterval is how often staged files of finished jobs and
	// orphans are removed.
	DefaultCleanupInterval = 10 * time.Minute
	// DefaultStagingGrace is how old an orphaned staged file (one that has
	// no job, because its upload failed half-way) must be before removal.
	DefaultStagingGrace = time.Hour
	// DefaultUploadTokenLifetime is how long an upload token is good when
	// its request says nothing: long enough to pick a file and send it
	// over a slow line, short enough that a leaked one soon expires.
	DefaultUploadTokenLifetime = 15 * time.Minute
	// DefaultUploadTokenMaxLifetime bounds what a request may ask. It
	// must not exceed StagingGrace: a direct upload's object has no job
	// until its complete step, and the staging sweep removes such objects
	// once they are StagingGrace old (docs/decisions.md).
	DefaultUploadTokenMaxLifetime = time.Hour
	// DefaultFetchTimeout bounds a whole fetch of an upload's url: the
	// lookups, connections, redirects and the body.
	DefaultFetchTimeout = 30 * time.Second
	// DefaultFetchMaxRedirects is how many redirects a fetch follows.
	DefaultFetchMaxRedirects = 3
)

// DefaultAllowedTypes are decoded by default. AVIF and HEIC are opt-in;
// SVG and anything else are never decoded.
var DefaultAllowedTypes = media.DefaultAllowedTypes()

// DefaultVariants returns the contract's variant table.
func DefaultVariants() map[string]VariantSpec { return media.DefaultVariants() }

// DefaultSourceTypes returns the contract's source types.
func DefaultSourceTypes() map[string]SourceType { return media.DefaultSourceTypes() }

// Config configures a Pipeline. The zero value is valid: every field left
// empty takes the default written next to it.
type Config struct {
	// Prefix is where Handler expects its routes. Default "/image-pipeline".
	Prefix string
	// DataDir holds the SQLite database and the local storage when neither
	// DatabaseURL nor Storage is set. Default "./data".
	DataDir string
	// DatabaseURL selects the database: empty or "sqlite:PATH" for SQLite,
	// "postgres://..." for PostgreSQL. Default: SQLite at DataDir/ximagepipeline.db.
	DatabaseURL string
	// Storage keeps the bytes. Default: a local directory DataDir/files,
	// served by Handler under {Prefix}/files/.
	Storage storage.Storage
	// PublicURL is the base of the URLs of stored files when Storage is the
	// default local directory. Default "{Prefix}/files" (relative to the server).
	PublicURL string

	// Variants and SourceTypes replace the defaults when set.
	Variants    map[string]VariantSpec
	SourceTypes map[string]SourceType

	MaxFileSize  int64    // bytes; default 50 MiB
	MaxPixels    int64    // width x height x frames; default 100 megapixels
	AllowedTypes []string // sniffed MIME types; default JPEG, PNG, WebP, GIF

	// WebPEffort is libwebp's effort (method, 1-6) for every WebP output.
	// Default 0: chosen per output, 4 (sharp's) and 5 for opaque outputs
	// up to 256x256 px, which keeps the files as small as sharp's at equal
	// quality. 2 encodes the large variants about twice as fast for files
	// 3-5% larger: for when worker CPU costs more than bytes served
	// (docs/performance.md).
	WebPEffort int

	StagingPath   string // default "staging"
	MediaPath     string // default "media"
	OriginalsPath string // default "originals"

	// MaxConcurrentUploads bounds the uploads received at once by Handler;
	// past it uploads answer 503 BUSY with Retry-After. Default 256.
	MaxConcurrentUploads int

	// DisableWorkers runs the API only: jobs wait for a worker elsewhere.
	DisableWorkers bool
	// Concurrency is the number of jobs processed at once. Default: the CPU count.
	Concurrency int
	// PollInterval is how often idle workers look for jobs besides the
	// wake-up each new job sends them (LISTEN/NOTIFY on PostgreSQL, River's
	// 50 ms notification table on SQLite). Default 1s; a large fleet can
	// raise it to spare the database.
	PollInterval time.Duration
	// MaxAttempts bounds the tries of a job whose failures can pass. Default 3.
	MaxAttempts     int
	RetryBackoff    time.Duration // default 2s, doubling per attempt
	JobTimeout      time.Duration // default 1m
	RescueAfter     time.Duration // default 2m; must exceed JobTimeout
	CleanupInterval time.Duration // default 10m
	StagingGrace    time.Duration // default 1h

	// Moderator checks every upload before anything of it is published
	// (package moderation; built-ins in moderation/httpmod and
	// moderation/rekognition). Default nil: no moderation.
	Moderator moderation.Moderator
	// Moderation is the policy of source types that have none of their own.
	// The zero value rejects on any flag and fails a job whose image could
	// not be checked after MaxAttempts (FailOpen publishes it instead).
	Moderation moderation.Policy

	// WebhookURLs receive a signed POST when a job records its outcome
	// (job.completed, job.rejected, job.failed) with its status body,
	// retried with RetryBackoff up to WebhookMaxAttempts times
	// (docs/webhooks.md). They are sent by the processes that run workers.
	// Default none.
	WebhookURLs []string
	// WebhookSecret keys the HMAC-SHA256 signature of each webhook; required
	// with WebhookURLs, so that receivers can refuse anyone else's calls.
	WebhookSecret string
	// WebhookMaxAttempts bounds the tries of one delivery. Default 10
	// (DefaultWebhookMaxAttempts), a delivery's own, not MaxAttempts.
	WebhookMaxAttempts int
	// WebhookTimeout bounds one delivery attempt, answer included: a
	// receiver should queue the work and answer at once. Default 10 s.
	WebhookTimeout time.Duration

	// UploadTokenSecret signs upload tokens (HMAC-SHA256): with it, an
	// app's backend mints short-lived tokens (MintUploadToken, or POST
	// {Prefix}/upload-tokens) with which a browser uploads one image for
	// one owner without an API key. At least 32 bytes (`openssl rand -hex
	// 32`); shared by every API server of a fleet. Default empty: tokens
	// are off, the mint route answers 404 UPLOAD_TOKENS_DISABLED and a
	// token is refused as TOKEN_INVALID.
	UploadTokenSecret string
	// UploadTokenLifetime is a token's life when its request names none.
	// Default 15 minutes (or UploadTokenMaxLifetime when shorter).
	UploadTokenLifetime time.Duration
	// UploadTokenMaxLifetime is the longest life a request may ask for; at
	// most StagingGrace. Default 1 hour (or StagingGrace when shorter).
	UploadTokenMaxLifetime time.Duration

	// DisableURLIngest refuses uploads that give a url instead of a file
	// (URL_INGEST_DISABLED). Default false: an upload may give a url, which
	// is fetched with the limits below and never from an address inside
	// the server's networks (internal/fetch).
	DisableURLIngest bool
	// FetchAllow lists addresses a url may lead to although the rules
	// refuse them (loopback, private, link-local, reserved), such as an
	// internal image server's 10.1.2.3/32. Default none.
	FetchAllow []netip.Prefix
	// FetchTimeout bounds one fetch, body included. Default 30 s.
	FetchTimeout time.Duration
	// FetchMaxRedirects is how many redirects a fetch follows; negative:
	// none. Default 3.
	FetchMaxRedirects int

	// TracerProvider receives OpenTelemetry spans of uploads and processing
	// attempts (with their stages). Default: otel's global provider, which
	// does nothing unless the host application installs one.
	TracerProvider trace.TracerProvider

	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of c with every empty field set.
func (c Config) withDefaults() Config {
	set := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	set(&c.Prefix, DefaultPrefix)
	c.Prefix = "/" + strings.Trim(c.Prefix, "/")
	set(&c.DataDir, DefaultDataDir)
	set(&c.PublicURL, c.Prefix+"/files")
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	set(&c.StagingPath, DefaultStagingPath)
	set(&c.MediaPath, DefaultMediaPath)
	set(&c.OriginalsPath, DefaultOriginalsPath)
	// Copy the maps: defaults are filled in without touching the caller's.
	c.Variants = maps.Clone(c.Variants)
	if c.Variants == nil {
		c.Variants = DefaultVariants()
	}
	c.SourceTypes = maps.Clone(c.SourceTypes)
	if c.SourceTypes == nil {
		c.SourceTypes = DefaultSourceTypes()
	}
	for name, st := range c.SourceTypes {
		c.SourceTypes[name] = st.WithDefaults()
	}
	for name, v := range c.Variants {
		c.Variants[name] = v.WithDefaults()
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.MaxPixels == 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if len(c.AllowedTypes) == 0 {
		c.AllowedTypes = DefaultAllowedTypes
	}
	if c.Concurrency == 0 {
		c.Concurrency = runtime.NumCPU()
	}
	if c.MaxConcurrentUploads == 0 {
		c.MaxConcurrentUploads = DefaultMaxConcurrentUploads
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.WebhookMaxAttempts == 0 {
		c.WebhookMaxAttempts = DefaultWebhookMaxAttempts
	}
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&c.PollInterval, DefaultPollInterval)
	dur(&c.RetryBackoff, DefaultRetryBackoff)
	dur(&c.JobTimeout, DefaultJobTimeout)
	dur(&c.RescueAfter, max(DefaultRescueAfter, c.JobTimeout+time.Minute))
	dur(&c.CleanupInterval, DefaultCleanupInterval)
	dur(&c.StagingGrace, DefaultStagingGrace)
	dur(&c.WebhookTimeout, DefaultWebhookTimeout)
	// Within StagingGrace when it is shorter (see validate).
	dur(&c.UploadTokenMaxLifetime, min(DefaultUploadTokenMaxLifetime, c.StagingGrace))
	dur(&c.UploadTokenLifetime, min(DefaultUploadTokenLifetime, c.UploadTokenMaxLifetime))
	dur(&c.FetchTimeout, DefaultFetchTimeout)
	if c.FetchMaxRedirects == 0 {
		c.FetchMaxRedirects = DefaultFetchMaxRedirects
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports the first thing wrong with a defaulted config, saying how to fix it.
func (c Config) validate() error {
	if len(c.SourceTypes) == 0 {
		return fmt.Errorf("config: no source types: define at least one")
	}
	names := make([]string, 0, len(c.SourceTypes))
	for name := range c.SourceTypes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !media.ValidName(name) {
			return fmt.Errorf("config: source type %q: names are 1-128 characters of A-Z a-z 0-9 . _ -", name)
		}
		if err := c.SourceTypes[name].Validate(c.Variants); err != nil {
			return fmt.Errorf("config: source type %q: %w", name, err)
		}
	}
	for name, v := range c.Variants {
		if !media.ValidName(name) {
			return fmt.Errorf("config: variant %q: names are 1-128 characters of A-Z a-z 0-9 . _ -", name)
		}
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: variant %q: %w", name, err)
		}
	}
	if err := media.ValidateAllowedTypes(c.AllowedTypes); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.WebPEffort < 0 || c.WebPEffort > 6 {
		return fmt.Errorf("config: webpEffort %d is not in 1..6 (0: chosen per output)", c.WebPEffort)
	}
	if c.MaxFileSize < 0 || c.MaxPixels < 0 || c.MaxAttempts < 1 || c.Concurrency < 0 {
		return fmt.Errorf("config: maxFileSize, maxPixels and concurrency must be positive, maxAttempts at least 1")
	}
	if err := c.Moderation.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.RescueAfter <= c.JobTimeout {
		return fmt.Errorf("config: rescueAfter (%s) must exceed jobTimeout (%s)", c.RescueAfter, c.JobTimeout)
	}
	for _, u := range c.WebhookURLs {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("config: webhook URL %q must be an absolute http:// or https:// URL", u)
		}
	}
	if c.WebhookMaxAttempts < 1 || c.WebhookTimeout < 0 {
		return fmt.Errorf("config: webhookMaxAttempts must be at least 1 and webhookTimeout positive")
	}
	if len(c.WebhookURLs) > 0 && c.WebhookSecret == "" {
		return fmt.Errorf("config: webhook URLs need a webhookSecret to sign with (any long random string, shared with the receivers)")
	}
	if c.UploadTokenSecret != "" {
		if err := uploadtoken.ValidateSecret([]byte(c.UploadTokenSecret)); err != nil {
			return fmt.Errorf("config: uploadTokenSecret: %w", err)
		}
	}
	if c.UploadTokenLifetime < time.Second || c.UploadTokenLifetime > c.UploadTokenMaxLifetime {
		return fmt.Errorf("config: uploadTokenLifetime (%s) must be at least 1s and at most uploadTokenMaxLifetime (%s)", c.UploadTokenLifetime, c.UploadTokenMaxLifetime)
	}
	if c.UploadTokenMaxLifetime > c.StagingGrace {
		return fmt.Errorf("config: uploadTokenMaxLifetime (%s) must not exceed stagingGrace (%s): the staging sweep would remove a direct upload before its token expires", c.UploadTokenMaxLifetime, c.StagingGrace)
	}
	if c.FetchTimeout < 0 {
		return fmt.Errorf("config: fetchTimeout must be positive")
	}
	for _, p := range c.FetchAllow {
		if !p.IsValid() {
			return fmt.Errorf("config: fetchAllow has an invalid prefix %q", p)
		}
	}
	for _, p := range []string{c.StagingPath, c.MediaPath, c.OriginalsPath} {
		if !media.ValidName(p) {
			return fmt.Errorf("config: storage path %q must be one plain segment", p)
		}
	}
	return nil
}
