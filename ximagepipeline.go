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
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	"github.com/ximagepipeline/ximagepipeline/internal/phash"
	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
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
	// Error and Code are set when FAILED: the message and its machine
	// code (UNDECODABLE, IMAGE_TOO_LARGE, ORIGINAL_TOO_LARGE, STORAGE_ERROR,
	// MODERATION_UNAVAILABLE, ...; README "Job failures").
	Error     string    `json:"error,omitempty"`
	Code      string    `json:"code,omitempty"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"createdAt"`
}

// Media is a processed image, ready to serve.
type Media struct {
	ID          string            `json:"id"`
	SourceType  string            `json:"sourceType"`
	SourceID    string            `json:"sourceId"`
	URLs        map[string]string `json:"urls"`        // variant name -> WebP URL
	OriginalURL *string           `json:"originalUrl"` // nil when the original is not stored
	Width       int               `json:"width"`       // after auto-orientation
	Height      int               `json:"height"`
	AspectRatio string            `json:"aspectRatio"` // GCD-reduced, "3:2"
	BlurHash    string            `json:"blurhash"`
	// ThumbHash is another placeholder (evanw's ThumbHash, base64): it
	// keeps the aspect ratio and transparency. Empty for media made before
	// it existed.
	ThumbHash string `json:"thumbhash"`
	// DominantColor is the colour of the largest group of like pixels,
	// "#rrggbb": a background to show while anything loads.
	DominantColor string             `json:"dominantColor"`
	Format        string             `json:"format"` // of the source: jpeg, png, ...
	FocalPoint    Point              `json:"focalPoint"`
	Variants      map[string]Variant `json:"variants"` // name -> WebP variant; "name.avif" -> AVIF variant
	// Srcset is, per variant format ("webp", "avif"), a ready srcset
	// attribute: "url 400w, url 800w" (see srcsets).
	Srcset   map[string]string `json:"srcset"`
	Metadata SourceMetadata    `json:"metadata"`
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
	jobs    *jobs.Service
	storage storage.Storage
	local   *local.Store // the default storage, served by Handler; nil otherwise
	layout  storage.Layout
	waiters waiters // requests waiting for a job to finish
	commits groupCommit
	metrics *metrics
	tracer  trace.Tracer
	// uploadSlots holds a token per upload being received.
	uploadSlots chan struct{}
	// completing serialises the complete steps of one direct upload.
	completing keyLocks
	// tokenUploads are the upload tokens whose upload is being received.
	tokenUploads inFlight
	// files serves the default local storage's public objects.
	files http.Handler
	// openapi is the OpenAPI document as served, with this prefix.
	openapi []byte
}

// New validates cfg, opens the database and storage, applies migrations and
// starts the workers unless cfg.DisableWorkers is set.
func New(ctx context.Context, cfg Config) (_ *Pipeline, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if !cfg.DisableWorkers {
		// Refused before anything is opened: a build that cannot run the
		// workers it is asked for makes no data directory and migrates no
		// database.
		if err := canProcess(); err != nil {
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
		p.files = http.StripPrefix(cfg.Prefix+"/files/", ls.Handler(p.layout.Public()...))
	}
	if p.openapi, err = openAPIDocument(cfg.Prefix); err != nil {
		return nil, err
	}
	if err := p.storage.Ping(ctx); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, filepath.Join(cfg.DataDir, "ximagepipeline.db"))
	if err != nil {
		return nil, err
	}
	p.store = st
	// Only a process that runs workers builds them (and starts libvips): an
	// API-only server never decodes, and needs no cgo (workers.go).
	var w worker
	if !cfg.DisableWorkers {
		if w, err = p.newWorker(); err != nil {
			return nil, err
		}
	}
	jcfg := jobs.Config{WebhookURLs: cfg.WebhookURLs, Queue: queue.Config{
		Work:        !cfg.DisableWorkers,
		Concurrency: cfg.Concurrency, MaxAttempts: cfg.MaxAttempts, RetryBackoff: cfg.RetryBackoff, PollInterval: cfg.PollInterval,
		JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter, CleanupInterval: cfg.CleanupInterval,
		WebhookMaxAttempts: cfg.WebhookMaxAttempts, Logger: cfg.Logger,
	}}
	if cfg.WebhookSecret != "" {
		jcfg.Queue.Webhooks = &webhook.Sender{Secret: cfg.WebhookSecret, Status: p.statusJSON, Timeout: cfg.WebhookTimeout}
	}
	p.jobs, err = jobs.Open(ctx, st, jcfg, w)
	if err != nil {
		return nil, err
	}
	if w != nil {
		w.attach(p.jobs)
	}
	p.commits.insert = p.jobs.Create
	p.metrics = newMetrics(p)
	// The workers live until Close, not until the caller's ctx ends.
	if err := p.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return p, nil
}

// worker is what processes the jobs of a pipeline that runs workers:
// internal/worker, in a build with cgo (workers.go).
type worker interface {
	queue.Handler
	// attach gives the worker the jobs service, which needs the worker first.
	attach(*jobs.Service)
}

// Close ends the waits (EndWaits), stops taking jobs, lets running ones
// finish until ctx ends (then hands them back to the queue), and closes the
// database.
func (p *Pipeline) Close(ctx context.Context) error {
	p.EndWaits()
	return errors.Join(p.jobs.Stop(ctx), p.release())
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
// one, the queue's state of it before (package jobs).
func (p *Pipeline) GetStatus(ctx context.Context, jobID string) (*Job, error) {
	v, err := p.jobs.Get(ctx, jobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil, ErrJobNotFound
	}
	if err != nil {
		return nil, err
	}
	job := &Job{ID: v.ID, Status: JobStatus(v.Status), SourceType: v.SourceType, SourceID: v.SourceID, Attempts: v.Attempts, CreatedAt: v.CreatedAt}
	switch job.Status {
	case StatusComplete:
		if v.MediaID != "" {
			m, err := p.GetMedia(ctx, v.MediaID)
			if err != nil && !errors.Is(err, ErrMediaNotFound) {
				return nil, err
			}
			job.Media = m
		}
	case StatusRejected:
		job.Reason = "Content moderation failed"
		job.ModerationDetails = v.Moderation
	case StatusFailed:
		job.Error, job.Code = v.Error, v.ErrorCode
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

// SimilarMedia is a media near another one, and how near.
type SimilarMedia struct {
	Media
	// Distance is how many of the 64 bits of the two perceptual hashes
	// differ: 0-4 for the same picture re-encoded or resized, at most
	// NearDuplicate for any match.
	Distance int `json:"distance"`
}

// NearDuplicate is the most bits two perceptual hashes may differ by for
// SimilarTo to call them the same picture: re-encodings, resizes and
// small brightness changes measure 0-8, different pictures 22 and more
// (docs/decisions.md).
const NearDuplicate = phash.NearDuplicate

// SimilarTo finds the near duplicates of a media among the media of its
// source type (any owner): the same picture re-encoded, resized or lightly
// edited, nearest first. It returns ErrMediaNotFound when there is no such
// media, and no match for a flat image (its hash says nothing).
func (p *Pipeline) SimilarTo(ctx context.Context, mediaID string) ([]SimilarMedia, error) {
	list, err := p.store.SimilarMedia(ctx, mediaID, NearDuplicate)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrMediaNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]SimilarMedia, 0, len(list))
	for _, s := range list {
		out = append(out, SimilarMedia{Media: *p.media(s.Media), Distance: s.Distance})
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
		ThumbHash: base64.StdEncoding.EncodeToString(f.ThumbHash), DominantColor: f.DominantColor,
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
	out.Srcset = srcsets(out.Width, out.Height, out.Variants)
	return out
}

// srcsets builds a srcset per format from the variants that keep the
// image's shape (the "inside" ones, within 3% of its aspect ratio), or,
// when there are none, from the crops (an avatar's): one candidate per
// width (the smallest file when two share one, then the first URL, so that
// the answer is always the same), narrowest first. A srcset
// must not mix shapes: the browser picks by width alone.
func srcsets(width, height int, variants map[string]Variant) map[string]string {
	ratio := 1.0
	if width > 0 && height > 0 {
		ratio = float64(width) / float64(height)
	}
	pick := func(format string, sameShape bool) []Variant {
		byWidth := map[int]Variant{}
		for _, v := range variants {
			if v.Format != format || v.Width <= 0 || v.Height <= 0 {
				continue
			}
			if sameShape && math.Abs(float64(v.Width)/float64(v.Height)-ratio)/ratio > 0.03 {
				continue
			}
			if prev, ok := byWidth[v.Width]; !ok || v.Bytes < prev.Bytes || (v.Bytes == prev.Bytes && v.URL < prev.URL) {
				byWidth[v.Width] = v
			}
		}
		return slices.SortedFunc(maps.Values(byWidth), func(a, b Variant) int { return a.Width - b.Width })
	}
	sameShape := len(pick("webp", true)) > 0
	out := map[string]string{}
	for _, v := range variants {
		if _, done := out[v.Format]; done {
			continue
		}
		var parts []string
		for _, c := range pick(v.Format, sameShape) {
			parts = append(parts, fmt.Sprintf("%s %dw", c.URL, c.Width))
		}
		if len(parts) > 0 {
			out[v.Format] = strings.Join(parts, ", ")
		}
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
