package httpmod_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/moderation"
	"github.com/ximagepipeline/ximagepipeline/moderation/httpmod"
	"github.com/ximagepipeline/ximagepipeline/signature"
)

var img = moderation.Image{
	Data: []byte("\xff\xd8fake jpeg"), ContentType: "image/jpeg",
	JobID: "job_1", SourceType: "avatar", SourceID: "u1", Attempt: 2,
}

func serve(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestModerateReadsTheAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer string
		want   moderation.Result
	}{
		{"approved", `{"flags": [], "confidence": 0.99}`, moderation.Result{Flags: []string{}, Confidence: 0.99, Provider: "http"}},
		{"no flags field", `{"confidence": 0.8}`, moderation.Result{Confidence: 0.8, Provider: "http"}},
		{"flagged with labels and more fields", `{"flags": ["explicit"], "confidence": 0.97, "labels": [{"name": "Porn", "confidence": 0.97}], "model": "x", "ms": 40}`,
			moderation.Result{Flags: []string{"explicit"}, Confidence: 0.97, Labels: []moderation.Label{{Name: "Porn", Confidence: 0.97}}, Provider: "http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "image/jpeg" || string(body) != string(img.Data) {
					t.Errorf("got %s %s %q", r.Method, r.Header.Get("Content-Type"), body)
				}
				if r.Header.Get("Authorization") != "Bearer k" || r.Header.Get(httpmod.HeaderJobID) != "job_1" ||
					r.Header.Get(httpmod.HeaderSourceType) != "avatar" || r.Header.Get(httpmod.HeaderSourceID) != "u1" ||
					r.Header.Get(httpmod.HeaderAttempt) != "2" {
					t.Errorf("headers %v", r.Header)
				}
				if err := signature.Verify("s", r.Header, body, time.Minute); err != nil {
					t.Error(err)
				}
				io.WriteString(w, tt.answer)
			})
			m, err := httpmod.New(httpmod.Options{URL: url, Secret: "s", Header: http.Header{"Authorization": {"Bearer k"}}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Moderate(context.Background(), img)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestModerateFailures: anything but a valid answer is an error, never an
// approval.
func TestModerateFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }, "500"},
		{"unauthorized", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) }, "401"},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }, "not the protocol's JSON"},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, "not the protocol's JSON"},
		{"confidence out of range", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"flags":[],"confidence":97}`) }, "not in 0..1"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) // then the server notices the client leaving
			<-r.Context().Done()
		}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := httpmod.New(httpmod.Options{URL: serve(t, tt.handler), Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Moderate(context.Background(), img)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	if _, err := httpmod.New(httpmod.Options{URL: "localhost:8790"}); err == nil {
		t.Error("New accepted a URL without a scheme")
	}
}
