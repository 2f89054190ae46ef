// Package signature is how ximagepipeline signs the requests it sends
// (webhook deliveries, moderation requests) and how their receivers check
// them: HMAC-SHA256, keyed with a shared secret, over the timestamp, a dot
// and the body, in two headers.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

const (
	// HeaderTimestamp is when the request was signed, in Unix seconds.
	HeaderTimestamp = "X-Ximagepipeline-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// secret, of the timestamp, "." and the body.
	HeaderSignature = "X-Ximagepipeline-Signature"
)

// ErrBad is what Verify returns, wrapped with the reason.
var ErrBad = errors.New("signature: missing, stale or wrong signature")

// Sign returns the HeaderSignature value of body signed at timestamp.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Set signs body now and sets both headers on h.
func Set(h http.Header, secret string, body []byte) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(secret, ts, body))
}

// Verify checks a request, for receivers written in Go: body must be the
// request body exactly as received, the timestamp within tolerance of now
// (five minutes is usual; it bounds replays) and the signature right for
// secret.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no %s", ErrBad, HeaderTimestamp)
	}
	if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %s from now, more than %s", ErrBad, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("%w: the signature does not match the body and secret", ErrBad)
	}
	return nil
}
