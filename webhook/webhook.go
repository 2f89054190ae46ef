// Package webhook announces a job's outcome to the URLs an operator
// configured (Config.WebhookURLs): Sender builds the payload from the job's
// current status, signs it and POSTs it (the pipeline's queue runs it and
// retries), and Verify checks a delivery's signature the way a receiver
// written in Go should. The format is in docs/webhooks.md.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"
)

// Events, one per outcome a job records.
const (
	EventCompleted = "job.completed" // status COMPLETE
	EventRejected  = "job.rejected"  // status REJECTED (moderation)
	EventFailed    = "job.failed"    // status FAILED
)

// Headers of each delivery besides Content-Type (application/json).
const (
	// HeaderEvent is the event, as in the payload.
	HeaderEvent = "X-Ximagepipeline-Event"
	// HeaderDelivery identifies the delivery; it is the same on each retry
	// of it, so a receiver can drop one it has already handled.
	HeaderDelivery = "X-Ximagepipeline-Delivery"
)

// Each delivery is signed with the secret: see package signature for the
// headers and signature.Verify for checking them.

// DefaultTimeout bounds one delivery attempt, answer included: a receiver
// should queue the work and answer at once; one that takes longer is
// retried later rather than holding a delivery slot.
const DefaultTimeout = 10 * time.Second

// maxAnswer bounds what is read of a receiver's answer (only for errors).
const maxAnswer = 4 << 10

// Payload is the JSON body of every delivery.
type Payload struct {
	Event string `json:"event"`
	JobID string `json:"jobId"`
	// Status is the job's status body as GET {prefix}/status/{jobId}
	// answers it at the time of the delivery.
	Status json.RawMessage `json:"status"`
}

// Delivery is one webhook to send: an event of a job, to one URL.
type Delivery struct {
	ID    string // HeaderDelivery; the same on each retry
	JobID string
	Event string
	URL   string
}

// Sender delivers webhooks. Secret and Status must be set.
type Sender struct {
	// Secret keys the signatures.
	Secret string
	// Status returns a job's status body, exactly as the status route
	// answers it.
	Status func(ctx context.Context, jobID string) ([]byte, error)
	// Client sends the requests. Default: a client with Timeout that
	// follows no redirects (a 3xx is a failed attempt).
	Client *http.Client
	// Timeout bounds one attempt, answer included, when Client is nil.
	// Default DefaultTimeout.
	Timeout time.Duration
}

// Send makes one attempt at a delivery: nil when the receiver answered
// 2xx, else an error, and the caller retries later.
func (s *Sender) Send(ctx context.Context, d Delivery) error {
	status, err := s.Status(ctx, d.JobID)
	if err != nil {
		return fmt.Errorf("webhook: status of %s: %w", d.JobID, err)
	}
	body, err := json.Marshal(Payload{Event: d.Event, JobID: d.JobID, Status: status})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ximagepipeline-webhook")
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderDelivery, d.ID)
	signature.Set(req.Header, s.Secret, body)

	resp, err := s.client().Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s to %s: %w", d.Event, d.URL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s to %s: answered %s: %s", d.Event, d.URL, resp.Status, snippet(answer))
	}
	return nil
}

// client is the Client, or one with the Timeout that follows no redirects.
func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
