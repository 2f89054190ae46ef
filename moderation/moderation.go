// Package moderation decides whether an upload may be published. A
// Moderator (a provider: an HTTP endpoint, AWS Rekognition, a local model,
// or your own) looks at a small copy of the image and reports flags; a
// Policy, per source type, decides which flags reject and which only
// annotate.
//
// The built-in providers live in sub-packages: moderation/httpmod (any
// endpoint speaking the protocol of docs/moderation.md, such as the offline
// nsfwjs sidecar in moderation/sidecar) and moderation/rekognition.
//
// The pipeline calls the Moderator after decoding and before anything is
// written to public paths, so that nothing rejected is ever published. A
// Moderator's error is a failure that can pass: the job is retried, and
// after its last attempt it fails, never silently approved, unless the
// policy says FailOpen.
package moderation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// Moderator checks one image. Implementations must be safe for concurrent
// use. Return an error when the image could not be checked (provider down,
// timeout, quota): the job is retried. Never return an empty Result for an
// image that was not looked at.
type Moderator interface {
	Moderate(ctx context.Context, img Image) (Result, error)
}

// Func adapts a function to a Moderator.
type Func func(ctx context.Context, img Image) (Result, error)

func (f Func) Moderate(ctx context.Context, img Image) (Result, error) { return f(ctx, img) }

// Image is what a Moderator sees: a downscaled copy of the upload, upright
// (EXIF orientation applied), in sRGB, as a JPEG without any metadata, and
// the facts of its job.
type Image struct {
	// Data is the JPEG (quality 85), longest side at most DefaultMaxSide.
	Data []byte
	// ContentType is "image/jpeg".
	ContentType string
	// Width and Height are those of Data.
	Width, Height int

	JobID      string
	SourceType string
	SourceID   string
	// Format is the upload's format: jpeg, png, webp, gif, avif, heic.
	Format string
	// Attempt counts the job's tries from 1.
	Attempt int
}

// DefaultMaxSide is the longest side of the image given to a Moderator:
// enough for classifiers (224-299 px inputs) and cloud APIs (Rekognition
// wants at least 50 px), small enough to send in a few tens of kilobytes.
const DefaultMaxSide = 512

// Result is what a provider found.
type Result struct {
	// Flags are our categories found in the image ("explicit",
	// "suggestive", "violence", ...), strongest first. None means
	// approved, as far as the provider is concerned.
	Flags []string
	// Confidence, 0..1, is how sure the provider is of its verdict: of the
	// strongest flag when there are flags, of the image being safe when
	// there are none (0 when the provider does not say).
	Confidence float64
	// Labels are the provider's own findings, unmapped, for the record.
	Labels []Label
	// Provider names who answered ("http", "rekognition", ...).
	Provider string
}

// Label is one raw finding of a provider.
type Label struct {
	Name       string  `json:"name"`
	Parent     string  `json:"parent,omitempty"`
	Confidence float64 `json:"confidence"`
}

// Policy says what moderation does for a source type. The zero value
// moderates, and every flag the provider reports rejects.
type Policy struct {
	// Disabled skips moderation for the source type. Default false: every
	// upload is checked when a Moderator is configured.
	Disabled bool `json:"disabled,omitempty" yaml:"disabled"`
	// Reject lists the flags that reject an upload; any other flag only
	// annotates (the upload is published with the flag in its Review). Default
	// (empty): every flag rejects.
	Reject []string `json:"reject,omitempty" yaml:"reject"`
	// MinConfidence, 0..1, is the least confidence at which a flag
	// rejects; below it the flag only annotates. Default 0: the provider's
	// own threshold decides.
	MinConfidence float64 `json:"minConfidence,omitempty" yaml:"minConfidence"`
	// FailOpen publishes an upload that could not be checked after its
	// last attempt (provider down or timing out), instead of failing the
	// job. Default false: nothing unchecked is published.
	FailOpen bool `json:"failOpen,omitempty" yaml:"failOpen"`
}

// Validate reports what is wrong with a policy.
func (p Policy) Validate() error {
	if p.MinConfidence < 0 || p.MinConfidence > 1 {
		return fmt.Errorf("moderation minConfidence %v is not in 0..1", p.MinConfidence)
	}
	return nil
}

// Decision is a Policy applied to a Result.
type Decision struct {
	// Rejected says the upload must not be published.
	Rejected bool
	// Rejecting are the flags that reject, Annotations the others.
	Rejecting, Annotations []string
}

// Decide applies the policy to what a provider found.
func (p Policy) Decide(r Result) Decision {
	var d Decision
	for _, f := range r.Flags {
		if (len(p.Reject) == 0 || slices.Contains(p.Reject, f)) && r.Confidence >= p.MinConfidence {
			d.Rejecting = append(d.Rejecting, f)
		} else {
			d.Annotations = append(d.Annotations, f)
		}
	}
	d.Rejected = len(d.Rejecting) > 0
	return d
}

// Details is the record of a rejection, stored with the job and shown as
// the status' moderationDetails: the contract's {"flags", "confidence"},
// then fields of our own.
type Details struct {
	Flags      []string `json:"flags"`
	Confidence float64  `json:"confidence"`
	// Annotations are flags found that do not reject under the policy.
	Annotations []string `json:"annotations,omitempty"`
	// Labels are the provider's raw findings, when it gives them.
	Labels []Label `json:"labels,omitempty"`
}

// Details returns the record of a decision on r, as JSON.
func (d Decision) Details(r Result) []byte {
	b, _ := json.Marshal(Details{
		Flags: nonNil(d.Rejecting), Confidence: r.Confidence, Annotations: d.Annotations, Labels: r.Labels,
	})
	return b
}

// The Status of a Review.
const (
	// Approved: the provider looked at the image and nothing it found
	// rejects under the policy.
	Approved = "approved"
	// Unchecked: the provider failed on the last attempt and the policy
	// fails open, so the upload was published without a verdict.
	Unchecked = "unchecked"
)

// Review is the record of moderation kept with a published upload and
// shown as its media's "moderation": what was decided, then what the
// provider said. It has the fields of Details that apply to an upload that
// was published; the rejecting flags are always none.
type Review struct {
	// Status is Approved or Unchecked.
	Status string `json:"status"`
	// Annotations are flags found that do not reject under the policy.
	Annotations []string `json:"annotations,omitempty"`
	// Confidence, 0..1, is the provider's (absent when it gave none).
	Confidence float64 `json:"confidence,omitempty"`
	// Provider names who answered (Result.Provider).
	Provider string `json:"provider,omitempty"`
	// Labels are the provider's raw findings, when it gives them.
	Labels []Label `json:"labels,omitempty"`
}

// Review returns the record of an approving decision on r.
func (d Decision) Review(r Result) Review {
	return Review{Status: Approved, Annotations: d.Annotations, Confidence: r.Confidence, Provider: r.Provider, Labels: r.Labels}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
