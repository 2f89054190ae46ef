package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/ximagepipeline/ximagepipeline"
)

// options are the settings shared by the commands that open a pipeline.
// Each has one flag, one environment variable (the flag's name in upper
// snake case: --data-dir is DATA_DIR) and one config-file key (the flag's
// name). A flag beats the environment, which beats the file.
type options struct {
	configFile  string
	addr        string
	dataDir     string
	databaseURL string
	prefix      string
	publicURL   string
	concurrency int
	maxFileSize int64
	maxPixels   int64
	webpEffort  int
	maxAttempts int
	logLevel    string
	s3          s3Options
	moderation  moderationOptions
	ingest      ingestOptions
	// Webhooks announcing each job's outcome.
	webhookURLs   []string
	webhookSecret string
	webhookTries  int
	webhookWait   time.Duration
	// Lease and timing of jobs (set by pipelineConfig); 0: the default.
	jobTimeout      time.Duration
	rescueAfter     time.Duration
	cleanupInterval time.Duration
	retryBackoff    time.Duration
	pollInterval    time.Duration
	stagingGrace    time.Duration
	allowedTypes    []string
	maxUploads      int
	// shutdownGrace is how long running jobs may finish on SIGTERM.
	shutdownGrace time.Duration

	// From the config file only: they are maps, not flags.
	variants    map[string]ximagepipeline.VariantSpec
	sourceTypes map[string]ximagepipeline.SourceType

	// given maps each option given, by flag name, to where it came from:
	// "" (the command line), "environment variable NAME" or "config file
	// key name". Given means present, whatever the value, even empty or
	// the default; check refuses the options that mean nothing alone.
	given map[string]string
}

func (o *options) addFlags(fs *pflag.FlagSet, server bool) {
	fs.StringVar(&o.configFile, "config", "", "config file (YAML or JSON) with these settings by flag name, plus variants and sourceTypes")
	if server {
		fs.StringVar(&o.addr, "addr", ":3000", "address to listen on")
	}
	fs.StringVar(&o.dataDir, "data-dir", ximagepipeline.DefaultDataDir, "directory of the SQLite database and local storage")
	fs.StringVar(&o.databaseURL, "database-url", "", "database: postgres://... or sqlite:PATH (default: SQLite in --data-dir)")
	fs.StringVar(&o.prefix, "prefix", ximagepipeline.DefaultPrefix, "URL prefix of the API routes")
	fs.StringVar(&o.publicURL, "public-url", "", "base URL of stored files (default: {prefix}/files, served by this server)")
	fs.IntVar(&o.concurrency, "concurrency", 0, "jobs processed at once (default: the number of CPUs)")
	fs.Int64Var(&o.maxFileSize, "max-file-size", ximagepipeline.DefaultMaxFileSize, "largest accepted upload, in bytes")
	fs.Int64Var(&o.maxPixels, "max-pixels", ximagepipeline.DefaultMaxPixels, "largest accepted width x height x frames")
	fs.IntVar(&o.webpEffort, "webp-effort", 0, "libwebp effort 1-6 for every WebP output (default: 4, and 5 for small opaque ones, for sharp's file sizes; 2 encodes large variants about twice as fast, 3-5% larger)")
	fs.IntVar(&o.maxAttempts, "max-attempts", ximagepipeline.DefaultMaxAttempts, "tries of a job whose failures can pass")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.jobTimeout, "job-timeout", ximagepipeline.DefaultJobTimeout, "longest processing attempt of one job")
	fs.DurationVar(&o.rescueAfter, "rescue-after", 0, "lease: a job running this long (its worker died) goes to another worker; must exceed --job-timeout (default: 2m, or --job-timeout + 1m when longer)")
	fs.DurationVar(&o.cleanupInterval, "cleanup-interval", ximagepipeline.DefaultCleanupInterval, "how often staged files of finished jobs and orphans are removed")
	fs.DurationVar(&o.pollInterval, "poll-interval", ximagepipeline.DefaultPollInterval, "how often idle workers look for jobs besides the wake-up each new job sends")
	fs.DurationVar(&o.retryBackoff, "retry-backoff", ximagepipeline.DefaultRetryBackoff, "delay before a failed job's first retry; doubles each attempt")
	fs.DurationVar(&o.stagingGrace, "staging-grace", ximagepipeline.DefaultStagingGrace, "age at which a staged file with no job (an upload that died half-way) is removed")
	fs.StringArrayVar(&o.allowedTypes, "allowed-type", nil, "MIME type accepted, sniffed from the bytes (repeatable; default image/jpeg, image/png, image/webp, image/gif; image/avif and image/heic opt in)")
	fs.IntVar(&o.maxUploads, "max-concurrent-uploads", ximagepipeline.DefaultMaxConcurrentUploads, "uploads received at once; more answer 503 BUSY with Retry-After")
	fs.DurationVar(&o.shutdownGrace, "shutdown-grace", defaultShutdownGrace, "on SIGTERM or SIGINT, how long requests and running jobs may finish before the jobs are handed back to the queue; keep it below the process manager's stop timeout")
	fs.StringArrayVar(&o.webhookURLs, "webhook-url", nil, "URL receiving job.completed, job.rejected and job.failed (repeatable; docs/webhooks.md); the other --webhook-* options need it")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "secret signing the webhooks (HMAC-SHA256); required with --webhook-url")
	fs.IntVar(&o.webhookTries, "webhook-max-attempts", ximagepipeline.DefaultWebhookMaxAttempts, "tries of one webhook delivery, with the retry backoff between them")
	fs.DurationVar(&o.webhookWait, "webhook-timeout", ximagepipeline.DefaultWebhookTimeout, "longest wait for a webhook receiver's answer; longer is a failed try")
	o.s3.addFlags(fs)
	o.moderation.addFlags(fs)
	o.ingest.addFlags(fs)
}

// load fills every flag not given on the command line from the environment,
// then from the config file.
func (o *options) load(fs *pflag.FlagSet) error {
	file := map[string]any{}
	path := o.configFile
	if !fs.Changed("config") {
		path = os.Getenv("CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		// YAML is a superset of JSON: one parser reads both.
		if err := yaml.Unmarshal(b, &file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		if err := o.loadMaps(file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	o.given = map[string]string{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			o.given[f.Name] = ""
		}
		if err != nil || f.Changed || f.Name == "config" {
			return
		}
		env := strings.ReplaceAll(strings.ToUpper(f.Name), "-", "_")
		if v, ok := os.LookupEnv(env); ok {
			o.given[f.Name] = "environment variable " + env
			// A repeatable flag takes several values separated by spaces.
			values := []string{v}
			if f.Value.Type() == "stringArray" {
				values = strings.Fields(v)
			}
			for _, v := range values {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("environment %s=%q: %w", env, v, e)
				}
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			o.given[f.Name] = "config file key " + f.Name
			values, isList := v.([]any)
			if !isList {
				values = []any{v}
			}
			for _, v := range values {
				if e := f.Value.Set(fmt.Sprint(v)); e != nil {
					err = fmt.Errorf("config file key %s: %w", f.Name, e)
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if o.shutdownGrace <= 0 {
		return fmt.Errorf("--shutdown-grace %s: must be above 0, such as 30s (the jobs' time to finish on SIGTERM)", o.shutdownGrace)
	}
	return nil
}

func (o *options) loadMaps(file map[string]any) error {
	for key, dst := range map[string]any{"variants": &o.variants, "sourceTypes": &o.sourceTypes} {
		v, ok := file[key]
		if !ok {
			continue
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(b, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

func (o *options) config() ximagepipeline.Config {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	return ximagepipeline.Config{
		Prefix:               o.prefix,
		DataDir:              o.dataDir,
		DatabaseURL:          o.databaseURL,
		PublicURL:            o.publicURL,
		Variants:             o.variants,
		SourceTypes:          o.sourceTypes,
		MaxFileSize:          o.maxFileSize,
		MaxPixels:            o.maxPixels,
		WebPEffort:           o.webpEffort,
		MaxAttempts:          o.maxAttempts,
		Concurrency:          o.concurrency,
		WebhookURLs:          o.webhookURLs,
		WebhookSecret:        o.webhookSecret,
		WebhookMaxAttempts:   o.webhookTries,
		WebhookTimeout:       o.webhookWait,
		Logger:               slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		RetryBackoff:         o.retryBackoff,
		PollInterval:         o.pollInterval,
		StagingGrace:         o.stagingGrace,
		AllowedTypes:         o.allowedTypes,
		MaxConcurrentUploads: o.maxUploads,
	}
}

// defaultShutdownGrace is how long requests and running jobs get to finish
// on SIGTERM before the jobs are handed back to the queue. The process
// manager's stop timeout must leave a few seconds more for the hand-back
// (docs/deployment.md).
const defaultShutdownGrace = 30 * time.Second

// A dependent is a group of options that mean nothing unless another
// option turns their feature on, such as --moderation-url without
// --moderation or --s3-region without --s3-bucket. Given without it, they
// would be dropped in silence; the commands that run the pipeline refuse
// to start instead (docs/decisions.md).
type dependent struct {
	names []string // flag names
	on    bool     // whether their feature is on
	need  string   // what turns it on, said after "needs"
}

// dependents are the groups of the options every command shares.
func (o *options) dependents() []dependent {
	ds := o.moderation.dependents()
	ds = append(ds, o.s3.dependents()...)
	ds = append(ds, o.ingest.dependents()...)
	return append(ds, dependent{
		names: []string{"webhook-secret", "webhook-max-attempts", "webhook-timeout"},
		on:    len(o.webhookURLs) > 0,
		need:  "--webhook-url",
	})
}

// check refuses options given without the option that turns their feature
// on (the shared ones and extra, such as serve's), and source types of the
// config file with a moderation policy but no provider. One line names
// every option in the wrong, where it came from and what it needs.
func (o *options) check(extra ...dependent) error {
	var wrong []string
	for _, d := range append(o.dependents(), extra...) {
		if d.on {
			continue
		}
		var given []string
		for _, name := range d.names {
			if _, ok := o.given[name]; ok {
				given = append(given, o.describe(name))
			}
		}
		switch len(given) {
		case 0:
		case 1:
			wrong = append(wrong, given[0]+" needs "+d.need)
		default:
			last := len(given) - 1
			wrong = append(wrong, strings.Join(given[:last], ", ")+" and "+given[last]+" need "+d.need)
		}
	}
	if !o.moderation.on() {
		names := slices.Sorted(maps.Keys(o.sourceTypes))
		for _, name := range names {
			if p := o.sourceTypes[name].Moderation; p != nil && !p.Disabled {
				wrong = append(wrong, fmt.Sprintf("the moderation policy of source type %q (config file key sourceTypes) needs %s", name, needProvider))
			}
		}
	}
	if len(wrong) > 0 {
		return errors.New(strings.Join(wrong, "; "))
	}
	return nil
}

// describe names an option given as its flag, and where it came from
// unless that was the command line.
func (o *options) describe(name string) string {
	if from := o.given[name]; from != "" {
		return "--" + name + " (" + from + ")"
	}
	return "--" + name
}
