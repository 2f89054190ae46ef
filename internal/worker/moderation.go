package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // reads the size of the moderation image
	"strings"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/imaging"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
)

// errRejected says process recorded a REJECTED outcome: the job is done.
var errRejected = errors.New("rejected by moderation")

// checked is what the moderation of one upload found.
type checked struct {
	res     moderation.Result
	err     error
	skipped bool // the source type is not moderated
}

// policy is the moderation policy of st: its own, else the pipeline's;
// nil when st is not moderated (no Moderator, or the policy is disabled).
func (w *Worker) policy(st media.SourceType) *moderation.Policy {
	if w.Moderator == nil {
		return nil
	}
	p := w.Moderation
	if st.Moderation != nil {
		p = *st.Moderation
	}
	if p.Disabled {
		return nil
	}
	return &p
}

// startModeration has the upload checked in the background when its
// source type's policy asks for it; the result arrives on the channel.
// stop abandons the check.
func (w *Worker) startModeration(ctx context.Context, job store.Job, policy *moderation.Policy, src []byte, attempt int) (<-chan checked, func()) {
	out := make(chan checked, 1)
	if policy == nil || w.Moderator == nil {
		out <- checked{skipped: true}
		return out, func() {}
	}
	ctx, stop := context.WithCancel(ctx)
	go func() {
		res, err := w.check(ctx, job, src, attempt)
		out <- checked{res: res, err: err}
	}()
	return out, stop
}

func (w *Worker) check(ctx context.Context, job store.Job, src []byte, attempt int) (moderation.Result, error) {
	data, err := w.Processor.ModerationImage(src, moderation.DefaultMaxSide)
	if errors.Is(err, imaging.ErrUndecodable) {
		return moderation.Result{}, undecodable(err)
	}
	if err != nil {
		return moderation.Result{}, fmt.Errorf("moderation image: %w", err)
	}
	img := moderation.Image{
		Data: data, ContentType: "image/jpeg",
		JobID: job.ID, SourceType: job.SourceType, SourceID: job.SourceID,
		Format:  strings.TrimPrefix(imagefile.Sniff(src), "image/"),
		Attempt: attempt,
	}
	if c, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		img.Width, img.Height = c.Width, c.Height
	}
	res, err := w.Moderator.Moderate(ctx, img)
	if err != nil {
		// It can pass, so the job is retried; it is never taken for an
		// approval.
		return moderation.Result{}, failure.ErrModerationUnavailable.With("", err)
	}
	return res, nil
}

// decide applies the source type's policy to what moderation found. When
// the upload may be published it returns what to keep with the media (nil
// for a source type that is not moderated); it returns errRejected once a
// rejection is recorded, and the provider's failure when the image could
// not be checked (retried; on the last attempt published unchecked only if
// the policy fails open).
func (w *Worker) decide(ctx context.Context, job store.Job, policy *moderation.Policy, c checked, attempt int, last bool) (*moderation.Review, error) {
	if c.skipped {
		return nil, nil
	}
	log := w.Logger.With("job_id", job.ID, "attempt", attempt)
	if c.err != nil {
		if !errors.Is(c.err, failure.ErrModerationUnavailable) || !last || !policy.FailOpen {
			return nil, c.err
		}
		log.Warn("moderation unavailable on the last attempt: publishing unchecked (fail-open)", "err", c.err)
		return &moderation.Review{Status: moderation.Unchecked}, nil
	}
	d := policy.Decide(c.res)
	if !d.Rejected {
		review := d.Review(c.res)
		return &review, nil
	}
	recorded, err := w.Jobs.Reject(ctx, job, attempt, d.Details(c.res))
	if err != nil {
		return nil, fmt.Errorf("record rejection: %w", err)
	}
	if recorded && attempt > 1 {
		// An earlier attempt may have been approved and stored outputs
		// before failing: a rejected job leaves nothing public. Unless
		// another worker finished the job first: then those objects are
		// its media (same keys) and stay, as in fail.
		w.removeOutputs(ctx, job)
	}
	return nil, errRejected
}
