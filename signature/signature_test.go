package signature_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/signature"
)

// TestSignKnownAnswer pins the signature to an HMAC computed elsewhere:
// printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	got := signature.Sign("s3cret", "1700000000", []byte(`{"a":1}`))
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
		h.Set(signature.HeaderTimestamp, s)
		h.Set(signature.HeaderSignature, signature.Sign(secret, s, body))
		return h
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-3] = 'X'
	replaced := signed("secret", now, body)
	replaced.Set(signature.HeaderTimestamp, strconv.FormatInt(now-1, 10)) // signature of another time
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
		{"no signature", http.Header{signature.HeaderTimestamp: {strconv.FormatInt(now, 10)}}, body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := signature.Verify("secret", tc.header, tc.body, 5*time.Minute)
			if tc.ok && err != nil {
				t.Errorf("Verify: %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, signature.ErrBad) {
				t.Errorf("Verify: %v, want ErrBad", err)
			}
		})
	}
}
