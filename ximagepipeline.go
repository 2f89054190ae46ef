// Package ximagepipeline is an asynchronous image upload pipeline: an upload
// is validated, staged and queued at once (202 with a job id), and a worker
// then auto-orients it, strips its metadata, makes the WebP variants its
// source type asks for, computes a BlurHash, dimensions, aspect ratio and
// focal point, and stores everything locally or in S3.
//
// The flow, one package each: upload (this package) -> internal/queue ->
// internal/worker -> internal/imaging -> storage.
package ximagepipeline

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ximagepipeline/ximagepipeline/internal/imaging"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/internal/worker"
	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/local"
	"github.com/ximagepipeline/ximagepipeline/webhook"
)

// JobStatus is the public state of a job.
type JobStatus string

const (
	StatusPending    JobStatus = "PENDING"
	StatusProcessing JobStatus = "PROCESSING"
	StatusComplete   JobStatus = "COMPLETE"
	StatusRejected   JobStatus = "REJECTED"
	StatusFailed     JobStatus = "FAILED"
)

// Job is an upload's processing job.
type Job struct {
	ID         string    `json:"jobId"`
	Status     JobStatus `json:"status"`
	SourceType string    `json:"sourceType"`
	SourceID   string    `json:"sourceId"`
	// Media is set when COMPLETE, unless the media was deleted since.
	Media *Media `json:"media,omitempty"`
	// Reason and ModerationDetails are set when REJECTED.
	Reason            string          `json:"reason,omitempty"`
	ModerationDetails json.RawMessage `json:"moderationDetails,omitempty"`
	// Error is set when FAILED.
	Error     string    `json:"error,omitempty"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"createdAt"`
}

// Media is a processed image, ready to serve.
type Media struct {
	ID          string             `json:"id"`
	SourceType  string             `json:"sourceType"`
	SourceID    string             `json:"sourceId"`
	URLs        map[string]string  `json:"urls"`        // variant name -> WebP URL
	OriginalURL *string            `json:"originalUrl"` // nil when the original is not stored
	Width       int                `json:"width"`       // after auto-orientation
	Height      int                `json:"height"`
	AspectRatio string             `json:"aspectRatio"` // GCD-reduced, "3:2"
	BlurHash    string             `json:"blurhash"`
	Format      string             `json:"format"` // of the source: jpeg, png, ...
	FocalPoint  Point              `json:"focalPoint"`
	Variants    map[string]Variant `json:"variants"` // name -> WebP variant; "name.avif" -> AVIF variant
	Metadata    SourceMetadata     `json:"metadata"`
	// Moderation is what content moderation said: "approved" with the
	// flags that only annotate, or "unchecked" (published fail-open). nil
	// when the source type is not moderated (docs/moderation.md).
	Moderation *moderation.Review `json:"moderation,omitempty"`
	CreatedAt  time.Time          `json:"createdAt"`
}

// Variant is one stored output, with what a srcset needs.
type Variant struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Format string `json:"format"`
	Bytes  int64  `json:"bytes"`
}

// Pipeline is a running image pipeline. Its methods are safe for concurrent use.
type Pipeline struct {
	cfg     Config
	store   *store.Store
	queue   *queue.Queue
	storage storage.Storage
	local   *local.Store // the default storage, served by Handler; nil otherwise
	layout  storage.Layout
	waiters waiters // requests waiting for a job to finish
	commits groupCommit
	metrics *metrics
	tracer  trace.Tracer
	// uploadSlots holds a token per upload being received.
	uploadSlots chan struct{}
}

// New validates cfg, opens the database and storage, applies migrations and
// starts the workers unless cfg.DisableWorkers is set.
func New(ctx context.Context, cfg Config) (_ *Pipeline, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Only a process that runs workers starts libvips: an API-only server
	// never decodes.
	var proc *imaging.Processor
	if !cfg.DisableWorkers {
		if proc, err = newProcessor(cfg); err != nil {
			return nil, err
		}
	}

	p := &Pipeline{cfg: cfg, storage: cfg.Storage, tracer: cfg.TracerProvider.Tracer("github.com/ximagepipeline/ximagepipeline"), uploadSlots: make(chan struct{}, cfg.MaxConcurrentUploads), layout: storage.Layout{
		Staging: cfg.StagingPath, Media: cfg.MediaPath, Originals: cfg.OriginalsPath,
	}}
	defer func() {
		if err != nil {
			p.release() // what was opened before the failure
		}
	}()
	if p.storage == nil {
		ls, err := local.New(filepath.Join(cfg.DataDir, "files"), cfg.PublicURL)
		if err != nil {
			return nil, err
		}
		p.storage, p.local = ls, ls
	}
	if err := p.storage.Ping(ctx); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, filepath.Join(cfg.DataDir, "ximagepipeline.db"))
	if err != nil {
		return nil, err
	}
	p.store = st
	if err := st.WithMigrationLock(ctx, func() error { return queue.Migrate(ctx, st.DB(), st.Pool()) }); err != nil {
		return nil, err
	}

	w := &worker.Worker{
		Store: st, Storage: p.storage, Layout: p.layout, Processor: proc, SourceTypes: cfg.SourceTypes,
		MaxFileSize: cfg.MaxFileSize, StagingGrace: cfg.StagingGrace, Logger: cfg.Logger,
		Observer: observer{p}, Tracer: p.tracer, Moderator: cfg.Moderator, Moderation: cfg.Moderation, WebhookURLs: cfg.WebhookURLs,
	}
	qcfg := queue.Config{
		DB: st.DB(), Pool: st.Pool(), Work: !cfg.DisableWorkers,
		Concurrency: cfg.Concurrency, MaxAttempts: cfg.MaxAttempts, RetryBackoff: cfg.RetryBackoff, PollInterval: cfg.PollInterval,
		JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter, CleanupInterval: cfg.CleanupInterval,
		WebhookMaxAttempts: cfg.WebhookMaxAttempts, Logger: cfg.Logger,
	}
	if cfg.WebhookSecret != "" {
		qcfg.Webhooks = &webhook.Sender{Secret: cfg.WebhookSecret, Status: p.statusJSON, Timeout: cfg.WebhookTimeout}
	}
	p.queue, err = queue.New(qcfg, w)
	if err != nil {
		return nil, err
	}
	w.Queue = p.queue
	p.commits.insert = p.insertJobs
	p.metrics = newMetrics(p)
	// The workers live until Close, not until the caller's ctx ends.
	if err := p.queue.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return p, nil
}

// newProcessor builds the pipeline's imaging from cfg: its variants, the
// types it decodes and its limits (a re-encoded original is bounded by the
// upload size limit).
func newProcessor(cfg Config) (*imaging.Processor, error) {
	return imaging.NewProcessor(imaging.Config{
		Variants: cfg.Variants, AllowedTypes: cfg.AllowedTypes, MaxPixels: cfg.MaxPixels, MaxOriginalBytes: cfg.MaxFileSize,
	})
}

// Close ends the waits (EndWaits), stops taking jobs, lets running ones
// finish until ctx ends (then hands them back to the queue), and closes the
// database.
func (p *Pipeline) Close(ctx context.Context) error {
	p.EndWaits()
	return errors.Join(p.queue.Stop(ctx), p.release())
}

// release closes the database and the default storage, when open.
func (p *Pipeline) release() error {
	var err error
	if p.store != nil {
		err = p.store.Close()
	}
	if p.local != nil {
		err = errors.Join(err, p.local.Close())
	}
	return err
}

// GetStatus returns a job; ErrJobNotFound when there is none. The status is
// derived from one source of truth: the job's recorded outcome once it has
// one, the queue's state of it before.
func (p *Pipeline) GetStatus(ctx context.Context, jobID string) (*Job, error) {
	j, err := p.store.Job(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrJobNotFound
	}
	if err != nil {
		return nil, err
	}
	if j.Outcome == "" {
		qs, err := p.queue.Status(ctx, j.QueueJobID)
		if err != nil {
			return nil, err
		}
		switch qs.State {
		case queue.Waiting:
			return p.job(j, StatusPending), nil
		case queue.Running:
			return p.job(j, StatusProcessing), nil
		case queue.Finished:
			// The worker records the outcome before the queue marks the job
			// done: read it again.
			if j, err = p.store.Job(ctx, jobID); err != nil {
				return nil, err
			}
		case queue.Failed, queue.Missing:
			// The queue gave up without an outcome recorded (the worker died
			// on the last attempt): the sweep records it later.
			j.Outcome, j.Attempts, j.Error = store.Failed, qs.Attempt, "Processing failed"
			if qs.LastError != "" {
				j.Error += ": " + qs.LastError
			}
		}
	}
	job := p.job(j, JobStatus(j.Outcome))
	switch job.Status {
	case StatusComplete:
		if j.MediaID != "" {
			m, err := p.GetMedia(ctx, j.MediaID)
			if err != nil && !errors.Is(err, ErrMediaNotFound) {
				return nil, err
			}
			job.Media = m
		}
	case StatusRejected:
		job.Reason = "Content moderation failed"
		job.ModerationDetails = j.Moderation
	case StatusFailed:
		job.Error = j.Error
	case "":
		job.Status = StatusFailed
		job.Error = "Processing failed"
	}
	return job, nil
}

// statusJSON is a job's status body exactly as the status route answers
// it: what a webhook carries.
func (p *Pipeline) statusJSON(ctx context.Context, jobID string) ([]byte, error) {
	job, err := p.GetStatus(ctx, jobID)
	if err != nil {
		return nil, err
	}
	return json.Marshal(statusBody(job))
}

func (p *Pipeline) job(j store.Job, status JobStatus) *Job {
	return &Job{ID: j.ID, Status: status, SourceType: j.SourceType, SourceID: j.SourceID, Attempts: j.Attempts, CreatedAt: j.CreatedAt}
}

// GetMedia returns one media; ErrMediaNotFound when there is none.
func (p *Pipeline) GetMedia(ctx context.Context, mediaID string) (*Media, error) {
	m, err := p.store.Media(ctx, mediaID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrMediaNotFound
	}
	if err != nil {
		return nil, err
	}
	return p.media(m), nil
}

// ListMedia returns an owner's media, newest first; an empty slice when none.
func (p *Pipeline) ListMedia(ctx context.Context, sourceType, sourceID string) ([]Media, error) {
	list, err := p.store.ListMedia(ctx, sourceType, sourceID)
	if err != nil {
		return nil, err
	}
	out := make([]Media, 0, len(list))
	for _, m := range list {
		out = append(out, *p.media(m))
	}
	return out, nil
}

// DeleteMedia removes every stored object of a media, then its record;
// ErrMediaNotFound when there is none. The jobs that made it keep their
// history with no media.
func (p *Pipeline) DeleteMedia(ctx context.Context, mediaID string) error {
	m, err := p.store.Media(ctx, mediaID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrMediaNotFound
	}
	if err != nil {
		return err
	}
	// Objects first: if this fails half-way the record still lists what
	// is left, and deleting again finishes the job.
	keys := []string{}
	for _, v := range m.Facts.Variants {
		keys = append(keys, v.Key)
	}
	if m.Facts.OriginalKey != "" {
		keys = append(keys, m.Facts.OriginalKey)
	}
	for _, k := range keys {
		if err := p.storage.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	err = p.store.DeleteMedia(ctx, mediaID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrMediaNotFound // deleted meanwhile by another request
	}
	return err
}

func (p *Pipeline) media(m store.Media) *Media {
	f := m.Facts
	out := &Media{
		ID: m.ID, SourceType: m.SourceType, SourceID: m.SourceID,
		URLs: map[string]string{}, Variants: map[string]Variant{},
		Width: f.Width, Height: f.Height, AspectRatio: f.AspectRatio, BlurHash: f.BlurHash, Format: f.Format,
		FocalPoint: f.FocalPoint,
		Metadata:   SourceMetadata(f.Source),
		Moderation: m.Moderation,
		CreatedAt:  m.CreatedAt,
	}
	for _, v := range f.Variants {
		url := p.storage.URL(v.Key)
		name := v.Name
		if v.Format == "webp" {
			out.URLs[name] = url
		} else {
			name += "." + v.Format
		}
		out.Variants[name] = Variant{URL: url, Width: v.Width, Height: v.Height, Format: v.Format, Bytes: v.Bytes}
	}
	if f.OriginalKey != "" {
		url := p.storage.URL(f.OriginalKey)
		out.OriginalURL = &url
	}
	return out
}

// VariantPresets returns, for each source type, the names of its variants.
func (p *Pipeline) VariantPresets() map[string][]string {
	out := make(map[string][]string, len(p.cfg.SourceTypes))
	for name, st := range p.cfg.SourceTypes {
		out[name] = slices.Clone(st.Variants)
	}
	return out
}

// SourceTypes returns the configured source types.
func (p *Pipeline) SourceTypes() map[string]SourceType { return maps.Clone(p.cfg.SourceTypes) }

// Variants returns the configured variants.
func (p *Pipeline) Variants() map[string]VariantSpec { return maps.Clone(p.cfg.Variants) }

// Ready checks that the database and the storage answer.
func (p *Pipeline) Ready(ctx context.Context) error {
	if err := p.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := p.storage.Ping(ctx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// newID returns prefix + 20 random base32 characters (100 bits).
func newID(prefix string) string {
	b := make([]byte, 13)
	rand.Read(b)
	return prefix + strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:20])
}
