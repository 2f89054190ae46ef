// Package httpmod is a moderation provider that asks any HTTP endpoint
// speaking the pipeline's moderation protocol (docs/moderation.md): the
// image is POSTed as image/jpeg, and the answer is
// {"flags": ["explicit"], "confidence": 0.97}, where no flags means
// approved. Put any model behind it; moderation/sidecar is one that runs
// offline.
package httpmod

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"

	"github.com/ximagepipeline/ximagepipeline/moderation"
)

// DefaultTimeout bounds one request to the endpoint, answer included: a
// classifier on a 512 px image answers in well under a second, so ten
// seconds only ends requests to an endpoint that is stuck.
const DefaultTimeout = 10 * time.Second

// maxAnswer bounds the answer read: it is a small JSON document.
const maxAnswer = 1 << 20

// Headers sent with each request besides Content-Type.
const (
	HeaderJobID      = "X-Ximagepipeline-Job-Id"
	HeaderSourceType = "X-Ximagepipeline-Source-Type"
	HeaderSourceID   = "X-Ximagepipeline-Source-Id"
	HeaderAttempt    = "X-Ximagepipeline-Attempt"
)

// With a Secret, each request is signed as package signature says (its
// headers; signature.Verify checks them).

// Options configure a Moderator. Only URL is required.
type Options struct {
	// URL receives the POSTs.
	URL string
	// Timeout bounds each request. Default DefaultTimeout.
	Timeout time.Duration
	// Header is added to each request (an Authorization, an API key).
	Header http.Header
	// Secret, when set, signs each request (package signature) so that the
	// endpoint can refuse anyone else's. Default: unsigned.
	Secret string
	// Client sends the requests. Default: a client with Timeout.
	Client *http.Client
	// Name is the Result's Provider. Default "http".
	Name string
}

// Moderator posts images to an endpoint.
type Moderator struct{ opts Options }

// New checks opts and returns a Moderator.
func New(opts Options) (*Moderator, error) {
	if !strings.HasPrefix(opts.URL, "http://") && !strings.HasPrefix(opts.URL, "https://") {
		return nil, fmt.Errorf("httpmod: URL %q must start with http:// or https://", opts.URL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Name == "" {
		opts.Name = "http"
	}
	return &Moderator{opts: opts}, nil
}

// Answer is the endpoint's JSON. Fields beyond these are ignored.
type Answer struct {
	// Flags found; none (absent, null or empty) means approved.
	Flags []string `json:"flags"`
	// Confidence 0..1 of the verdict.
	Confidence float64 `json:"confidence"`
	// Labels, optional, are the model's raw findings, kept for the record.
	Labels []moderation.Label `json:"labels,omitempty"`
}

// Moderate sends img and reads the verdict. Any failure (connection,
// timeout, a status other than 200, an answer that is not the protocol's
// JSON) is an error, so the job is retried rather than approved.
func (m *Moderator) Moderate(ctx context.Context, img moderation.Image) (moderation.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.opts.URL, bytes.NewReader(img.Data))
	if err != nil {
		return moderation.Result{}, fmt.Errorf("httpmod: %w", err)
	}
	for k, vs := range m.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	ct := img.ContentType
	if ct == "" {
		ct = "image/jpeg"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderJobID, img.JobID)
	req.Header.Set(HeaderSourceType, img.SourceType)
	req.Header.Set(HeaderSourceID, img.SourceID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(img.Attempt))
	if m.opts.Secret != "" {
		signature.Set(req.Header, m.opts.Secret, img.Data)
	}

	resp, err := m.opts.Client.Do(req)
	if err != nil {
		return moderation.Result{}, fmt.Errorf("httpmod: %s: %w", m.opts.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return moderation.Result{}, fmt.Errorf("httpmod: %s: reading the answer: %w", m.opts.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return moderation.Result{}, fmt.Errorf("httpmod: %s answered %s: %s", m.opts.URL, resp.Status, snippet(body))
	}
	var a Answer
	if err := json.Unmarshal(body, &a); err != nil {
		return moderation.Result{}, fmt.Errorf("httpmod: %s: the answer is not the protocol's JSON (%v): %s", m.opts.URL, err, snippet(body))
	}
	if a.Confidence < 0 || a.Confidence > 1 {
		return moderation.Result{}, fmt.Errorf("httpmod: %s: confidence %v is not in 0..1", m.opts.URL, a.Confidence)
	}
	return moderation.Result{Flags: a.Flags, Confidence: a.Confidence, Labels: a.Labels, Provider: m.opts.Name}, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
