package webhook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/webhook"
)

// TestSignKnownAnswer pins the signature to an HMAC computed elsewhere:
// printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	got := webhook.Sign("s3cret", "1700000000", []byte(`{"a":1}`))
	const want = "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"job.completed","jobId":"job_1","status":{"jobId":"job_1","status":"COMPLETE"}}`)
	now := time.Now().Unix()
	signed := func(secret string, ts int64, body []byte) http.Header {
		h := http.Header{}
		s := strconv.FormatInt(ts, 10)
		h.Set(webhook.HeaderTimestamp, s)
		h.Set(webhook.HeaderSignature, webhook.Sign(secret, s, body))
		return h
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = 'X'
	replaced := signed("secret", now, body)
	replaced.Set(webhook.HeaderTimestamp, strconv.FormatInt(now-1, 10)) // signature of another time
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
		ok     bool
	}{
		{"good", signed("secret", now, body), body, true},
		{"a little in the future", signed("secret", now+30, body), body, true},
		{"tampered body", signed("secret", now, body), tampered, false},
		{"wrong secret", signed("other", now, body), body, false},
		{"stale timestamp", signed("secret", now-int64(10*time.Minute/time.Second), body), body, false},
		{"far future timestamp", signed("secret", now+int64(10*time.Minute/time.Second), body), body, false},
		{"timestamp swapped", replaced, body, false},
		{"no headers", http.Header{}, body, false},
		{"no signature", http.Header{webhook.HeaderTimestamp: {strconv.FormatInt(now, 10)}}, body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify("secret", tc.header, tc.body, 5*time.Minute)
			if tc.ok && err != nil {
				t.Errorf("Verify: %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, webhook.ErrBadSignature) {
				t.Errorf("Verify: %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestSend: a 2xx answer delivers; anything else, a redirect included, is
// an error for the queue to retry; each request verifies.
func TestSend(t *testing.T) {
	t.Parallel()
	status := func(context.Context, string) ([]byte, error) {
		return []byte(`{"jobId":"job_1","status":"COMPLETE"}`), nil
	}
	for _, tc := range []struct {
		answer int
		ok     bool
	}{
		{http.StatusOK, true},
		{http.StatusNoContent, true},
		{http.StatusFound, false},
		{http.StatusBadRequest, false},
		{http.StatusInternalServerError, false},
	} {
		t.Run(strconv.Itoa(tc.answer), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if err := webhook.Verify("k", r.Header, body, time.Minute); err != nil {
					t.Errorf("receiver: %v", err)
				}
				if got := string(body); got != `{"event":"job.completed","jobId":"job_1","status":{"jobId":"job_1","status":"COMPLETE"}}` {
					t.Errorf("body %s", got)
				}
				if r.Header.Get(webhook.HeaderEvent) != webhook.EventCompleted || r.Header.Get(webhook.HeaderDelivery) != "dlv_1" {
					t.Errorf("headers %v", r.Header)
				}
				if tc.answer == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.answer)
			}))
			defer srv.Close()
			s := &webhook.Sender{Secret: "k", Status: status}
			err := s.Send(t.Context(), webhook.Delivery{ID: "dlv_1", JobID: "job_1", Event: webhook.EventCompleted, URL: srv.URL + "/hook"})
			if (err == nil) != tc.ok {
				t.Errorf("Send: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
