package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"

	"github.com/ximagepipeline/ximagepipeline/webhook"
)

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
				if err := signature.Verify("k", r.Header, body, time.Minute); err != nil {
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
