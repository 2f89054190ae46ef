// Package rekognitiontest is a stand-in for AWS Rekognition's
// DetectModerationLabels, speaking its JSON protocol (awsJson1_1) on a
// local httptest.Server, so that the real SDK can be tested offline.
package rekognitiontest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Label is one ModerationLabels entry of the answer.
type Label struct {
	Name          string  `json:"Name"`
	ParentName    string  `json:"ParentName"`
	Confidence    float64 `json:"Confidence"`
	TaxonomyLevel int     `json:"TaxonomyLevel,omitempty"`
}

// Request is what the server received.
type Request struct {
	Image         []byte  // the decoded Image.Bytes
	MinConfidence float64 // 0 when not sent
	Signed        bool    // carries an AWS Signature Version 4 Authorization
}

// Server answers DetectModerationLabels.
type Server struct {
	*httptest.Server
	// Answer returns the labels for a request, or an AWS error type
	// ("InvalidImageFormatException", ...) to answer 400 with it.
	Answer func(r Request) (labels []Label, errType string)

	mu       sync.Mutex
	requests []Request
}

// New starts a Server answering labels to every request; it stops at the
// end of the test.
func New(t testing.TB, labels ...Label) *Server {
	s := &Server{Answer: func(Request) ([]Label, string) { return labels, "" }}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "RekognitionService.DetectModerationLabels" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		fail(http.StatusBadRequest, "UnknownOperationException", "want POST RekognitionService.DetectModerationLabels")
		return
	}
	var in struct {
		Image struct {
			Bytes string `json:"Bytes"`
		} `json:"Image"`
		MinConfidence float64 `json:"MinConfidence"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	img, err := base64.StdEncoding.DecodeString(in.Image.Bytes)
	if err != nil || len(img) == 0 {
		fail(http.StatusBadRequest, "InvalidParameterException", "Image.Bytes must be base64")
		return
	}
	req := Request{Image: img, MinConfidence: in.MinConfidence,
		Signed: strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	labels, errType := s.Answer(req)
	if errType != "" {
		fail(http.StatusBadRequest, errType, "refused by the test")
		return
	}
	if labels == nil {
		labels = []Label{}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"ModerationLabels": labels, "ModerationModelVersion": "7.0"})
}
