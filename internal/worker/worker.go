// Package worker turns a queued upload into media: it reads the staged
// file, has it processed by imaging, writes the outputs to storage and
// records the result. It also sweeps staged files that are no longer needed.
package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/imaging"
	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/storage"
)

// Worker processes jobs. Its exported fields must be set before use.
type Worker struct {
	// Jobs reads the jobs' records and records their outcomes.
	Jobs         *jobs.Service
	Storage      storage.Storage
	Layout       storage.Layout
	Processor    *imaging.Processor          // the pipeline's: its variants, allowed types and limits
	SourceTypes  map[string]media.SourceType // the pipeline's, by name
	MaxFileSize  int64
	StagingGrace time.Duration
	Logger       *slog.Logger
	// Moderator checks the uploads of moderated source types: those whose
	// policy (their own, else Moderation) is not disabled. Default nil:
	// nothing is moderated.
	Moderator moderation.Moderator
	// Moderation is the policy of source types that have none of their own.
	Moderation moderation.Policy
	// Tracer, when set, traces every attempt and its stages.
	Tracer trace.Tracer
	// Observer, when set, is told of every attempt (waiters, metrics).
	Observer Observer
}

// Observer is told when an attempt starts and how it ends.
type Observer interface {
	AttemptStarted(jobID string)
	// AttemptEnded gets the attempt's result: COMPLETE, REJECTED, FAILED,
	// or RETRY for a failure that will be tried again.
	AttemptEnded(jobID, sourceType, result string, took time.Duration)
	// StageTook gets the time of one stage of an attempt: read, imaging,
	// moderation (the wait beyond imaging) or store.
	StageTook(stage string, took time.Duration)
}

// Result of an attempt that ends without an outcome: it will be retried.
const Retry = "RETRY"

// MediaID is the id of the media a job makes. Deriving it from the job makes
// a retried or rescued job write to the same keys, so it never leaves a
// second copy behind.
func MediaID(jobID string) string { return "med_" + strings.TrimPrefix(jobID, "job_") }

// Process works on one job; see queue.Handler. It returns nil once the
// job has an outcome; an error whose failure.Error is not Retryable once
// it recorded FAILED (nothing more to try); any other error to be tried
// again. When ctx is cancelled (the process is stopping), it records
// nothing and returns ctx's error: the queue hands the job back.
func (w *Worker) Process(ctx context.Context, jobID string, attempt, maxAttempts int) error {
	job, err := w.Jobs.Job(ctx, jobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return failure.ErrJobNotFound.With("", fmt.Errorf("job %s has no record", jobID))
	}
	if err != nil {
		return err
	}
	if job.Outcome != "" {
		return nil // finished by an earlier attempt whose completion was not acknowledged
	}
	log := w.Logger.With("job_id", jobID, "attempt", attempt)
	start := time.Now()
	result := Retry
	if w.Observer != nil {
		w.Observer.AttemptStarted(jobID)
		defer func() { w.Observer.AttemptEnded(jobID, job.SourceType, result, time.Since(start)) }()
	}
	ctx, span := w.tracer().Start(ctx, "ximagepipeline.process", trace.WithAttributes(
		attribute.String("ximagepipeline.job_id", jobID),
		attribute.String("ximagepipeline.source_type", job.SourceType),
		attribute.Int("ximagepipeline.attempt", attempt)))
	defer func() { span.SetAttributes(attribute.String("ximagepipeline.result", result)); span.End() }()
	err = w.process(ctx, job, attempt, attempt >= maxAttempts)
	if err != nil && !errors.Is(err, errRejected) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	switch {
	case errors.Is(err, errRejected): // recorded by process
		result = store.Rejected
		log.Info("job rejected by moderation", "source_type", job.SourceType, "ms", time.Since(start).Milliseconds())
		w.removeStaged(ctx, job)
		return nil
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		// The process is stopping: the attempt was not the job's fault.
		log.Info("job handed back on shutdown")
		return ctx.Err()
	case err == nil:
		result = store.Complete
		log.Info("job complete", "source_type", job.SourceType, "ms", time.Since(start).Milliseconds())
		w.removeStaged(ctx, job)
		return nil
	case !failure.Permanent(err) && attempt < maxAttempts:
		log.Warn("job attempt failed, will retry", "err", err)
		return err
	}
	outcome := failure.Processing(err)
	log.Error("job failed", "code", outcome.Code, "err", err)
	// The outcome is recorded with a fresh context: the job's own may be
	// the reason it failed (a timeout).
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if ferr := w.fail(bg, job, attempt, outcome); ferr != nil {
		return ferr // the queue retries or rescues; the outcome is written then
	}
	result = store.Failed
	w.removeStaged(bg, job)
	final := *outcome
	final.Retryable = false // recorded: nothing more to try
	return &final
}

// fail records job FAILED with e and removes what its attempts wrote,
// unless another worker finished it first: then those objects are that
// worker's media and stay.
func (w *Worker) fail(ctx context.Context, job store.Job, attempt int, e *failure.Error) error {
	recorded, err := w.Jobs.Fail(ctx, job, attempt, e)
	if recorded {
		w.removeOutputs(ctx, job)
	}
	return err
}

// stage starts one stage of an attempt as a trace span; the returned func
// ends it and tells the observer how long it took.
func (w *Worker) stage(ctx context.Context, name string) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := w.tracer().Start(ctx, "ximagepipeline."+name)
	return ctx, func(err error) {
		endSpan(span, err)
		if w.Observer != nil {
			w.Observer.StageTook(name, time.Since(start))
		}
	}
}

func (w *Worker) tracer() trace.Tracer {
	if w.Tracer == nil {
		return noop.NewTracerProvider().Tracer("")
	}
	return w.Tracer
}

// endSpan records err, if any, on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// undecodable is the failure of an image that can never be decoded, with
// imaging's reason.
func undecodable(err error) *failure.Error {
	reason := "unknown reason"
	if u, ok := errors.AsType[*imagefile.UndecodableError](err); ok {
		reason = u.Reason
	}
	return failure.Undecodable(reason, err)
}

func (w *Worker) process(ctx context.Context, job store.Job, attempt int, last bool) (err error) {
	st, ok := w.SourceTypes[job.SourceType]
	if !ok {
		return failure.SourceTypeRemoved(job.SourceType)
	}
	_, end := w.stage(ctx, "read")
	src, err := w.readStaged(ctx, job)
	end(err)
	if err != nil {
		return err
	}
	// Moderation looks at the image while imaging makes the variants; both
	// end before anything is written to public paths.
	policy := w.policy(st)
	checked, stopModeration := w.startModeration(ctx, job, policy, src, attempt)
	defer stopModeration()
	_, end = w.stage(ctx, "imaging")
	res, err := w.Processor.Process(ctx, src, st)
	end(err)
	switch {
	case errors.Is(err, imaging.ErrTooManyPixels):
		return failure.ImageTooLarge(w.Processor.Config().MaxPixels)
	case errors.Is(err, imaging.ErrOriginalTooLarge):
		return failure.OriginalTooLarge(w.Processor.Config().MaxOriginalBytes)
	case errors.Is(err, imaging.ErrUndecodable):
		return undecodable(err)
	}
	if err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	_, end = w.stage(ctx, "moderation")
	verdict := <-checked // only the wait beyond imaging is moderation's own time
	end(nil)
	review, err := w.decide(ctx, job, policy, verdict, attempt, last)
	if err != nil {
		return err
	}
	ctx, end = w.stage(ctx, "store")
	defer func() { end(err) }()

	mediaID := MediaID(job.ID)
	facts := store.MediaFacts{
		Width: res.Width, Height: res.Height, AspectRatio: res.AspectRatio, BlurHash: res.BlurHash,
		ThumbHash: res.ThumbHash, DominantColor: res.DominantColor,
		Format: res.Source.Format, FocalPoint: res.FocalPoint, Source: res.Source,
	}
	for _, out := range res.Variants {
		key := w.Layout.Variant(job.SourceType, job.SourceID, mediaID, out.Name, out.Format)
		if err := w.put(ctx, key, out); err != nil {
			return err
		}
		facts.Variants = append(facts.Variants, store.VariantFacts{
			Name: out.Name, Format: out.Format, Key: key, Width: out.Width, Height: out.Height, Bytes: int64(len(out.Data)),
		})
	}
	if res.Original != nil {
		key := w.Layout.Original(job.SourceType, job.SourceID, mediaID, res.Original.Ext)
		if err := w.put(ctx, key, *res.Original); err != nil {
			return err
		}
		facts.OriginalKey = key
	}
	return w.Jobs.Complete(ctx, attempt, store.Media{
		ID: mediaID, JobID: job.ID, SourceType: job.SourceType, SourceID: job.SourceID,
		Facts: facts, Moderation: review, PHash: res.PHash, CreatedAt: time.Now(),
	})
}

func (w *Worker) readStaged(ctx context.Context, job store.Job) ([]byte, error) {
	rc, err := w.Storage.Get(ctx, job.StagedKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, failure.ErrStagedFileMissing
	}
	if err != nil {
		return nil, failure.StorageFailed("could not read the staged upload", fmt.Errorf("read staged upload: %w", err))
	}
	defer rc.Close()
	src, err := io.ReadAll(io.LimitReader(rc, w.MaxFileSize+1))
	if err != nil {
		return nil, failure.StorageFailed("could not read the staged upload", fmt.Errorf("read staged upload: %w", err))
	}
	return src, nil
}

func (w *Worker) put(ctx context.Context, key string, out imaging.Output) error {
	err := w.Storage.Put(ctx, key, bytes.NewReader(out.Data), int64(len(out.Data)), contentType(out.Format))
	if errors.Is(err, storage.ErrInvalidKey) {
		return failure.StorageRefusedKey(key, err) // retrying cannot change the key
	}
	if err != nil {
		return failure.StorageFailed("could not store "+key, fmt.Errorf("store %s: %w", key, err))
	}
	return nil
}

// removeOutputs deletes what a failed job may have written.
func (w *Worker) removeOutputs(ctx context.Context, job store.Job) {
	for _, prefix := range w.Layout.MediaFolders(job.SourceType, job.SourceID, MediaID(job.ID)) {
		err := w.Storage.List(ctx, prefix, func(o storage.Object) error { return w.Storage.Delete(ctx, o.Key) })
		if err != nil {
			w.Logger.Warn("could not remove outputs of failed job", "job_id", job.ID, "err", err)
		}
	}
}

func (w *Worker) removeStaged(ctx context.Context, job store.Job) {
	if err := w.Storage.Delete(ctx, job.StagedKey); err != nil {
		// The sweep will try again.
		w.Logger.Warn("could not remove staged upload", "job_id", job.ID, "err", err)
	}
}

// Cleanup removes staged uploads that are no longer needed (those of
// finished jobs, those of jobs the queue gave up on, recording them
// FAILED, and orphans whose upload never created a job) and the records of
// long-expired upload tokens. See queue.Handler.
func (w *Worker) Cleanup(ctx context.Context) error {
	var removed int
	err := w.Storage.List(ctx, w.Layout.StagingFolder(), func(o storage.Object) error {
		job, err := w.Jobs.Job(ctx, w.Layout.StagedJobID(o.Key))
		switch {
		case errors.Is(err, jobs.ErrNotFound):
			// An upload in flight stages before its job commits: wait.
			if time.Since(o.Modified) < w.StagingGrace {
				return nil
			}
		case err != nil:
			return err
		default:
			finished, recorded, err := w.Jobs.Reconcile(ctx, job)
			if err != nil || !finished {
				return err
			}
			if recorded {
				w.removeOutputs(ctx, job)
			}
		}
		removed++
		return w.Storage.Delete(ctx, o.Key)
	})
	if removed > 0 {
		w.Logger.Info("cleanup removed staged uploads", "count", removed)
	}
	pruned, perr := w.Jobs.PruneTokens(ctx, time.Now().Add(-SpentTokensKept))
	if pruned > 0 {
		w.Logger.Info("cleanup removed records of expired upload tokens", "count", pruned)
	}
	return errors.Join(err, perr)
}

// SpentTokensKept is how long past its expiry an upload token's record
// is kept: a day, well beyond the hour in which an expired token still
// reads its job's status, after which nothing consults it.
const SpentTokensKept = 24 * time.Hour

// contentType is the Content-Type of an output format, from the format
// table.
func contentType(format string) string {
	if f, ok := media.FormatNamed(format); ok {
		return f.ContentType()
	}
	return "application/octet-stream"
}
