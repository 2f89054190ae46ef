// Package uploadtoken mints and checks signed upload tokens: short-lived
// permissions, handed by an app's backend to a browser or a phone, to upload
// one image for one owner (a source type and id) without an API key, either
// through the pipeline or straight into the bucket (a direct upload, whose
// job is already reserved: JobID).
//
// A token is "xut_", the claims as JSON in unpadded base64url, ".", and the
// HMAC-SHA256 of everything before the dot keyed with a secret of at least
// 32 bytes, in unpadded base64url:
//
//	xut_eyJ2IjoxLCJpZCI6InV0a18uLi4iLC4uLn0.q2JrY1dR...
//
// Verify checks the signature before it reads a claim, so nothing in a
// forged token is ever parsed. A token proves who minted it and until when
// it is good; it does not stop being good once used. Single use is the
// verifier's job: it records Claims.ID when it accepts an upload (the
// pipeline inserts it in the job's transaction), and refuses an id it has
// seen.
//
// Minting, in an app's backend:
//
//	tok, err := uploadtoken.Mint(secret, uploadtoken.Claims{
//		SourceType: "avatar",
//		SourceID:   "user-42",
//		ExpiresAt:  time.Now().Add(10 * time.Minute),
//	})
package uploadtoken

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// Prefix starts every token, so that a token is recognised in logs and
	// by secret scanners, and a key of another kind is refused at once.
	Prefix = "xut_"
	// MinSecretLen is the shortest secret Mint, Verify and ValidateSecret
	// accept: 32 bytes, HMAC-SHA256's output size. `openssl rand -hex 32`
	// makes one (64 characters).
	MinSecretLen = 32
	// MaxTokenLen bounds what Verify looks at: a longer string is refused
	// before it is decoded. Real tokens are 200-400 bytes.
	MaxTokenLen = 4096
	// IDPrefix starts the ids Mint draws.
	IDPrefix = "utk_"

	version = 1
)

var (
	// ErrInvalid is a token that is not one of ours: malformed, truncated,
	// tampered with, signed with another secret, or of an unknown version.
	ErrInvalid = errors.New("uploadtoken: invalid token")
	// ErrExpired is a genuine token whose ExpiresAt has passed: the client
	// should ask its backend for a new one.
	ErrExpired = errors.New("uploadtoken: token expired")
	// ErrWeakSecret is a secret shorter than MinSecretLen.
	ErrWeakSecret = errors.New("uploadtoken: secret too short")
)

// Claims are what a token permits. All but JobID are required.
type Claims struct {
	// ID names the token, for single use. Leave it empty: Mint draws one
	// with 128 random bits ("utk_" and 26 base32 characters). Set it only to
	// mint a token again exactly (tests).
	ID string
	// SourceType and SourceID are the owner the upload must be for.
	SourceType, SourceID string
	// MaxFileSize caps the upload in bytes, below the source type's limit;
	// 0 leaves the pipeline's limit alone.
	MaxFileSize int64
	// ExpiresAt is when the token stops being good. Tokens keep it to the
	// second (Mint truncates); keep lifetimes short: minutes.
	ExpiresAt time.Time
	// JobID is the job reserved for a direct-to-bucket upload; empty for
	// an upload through the pipeline.
	JobID string
	// Size is a direct upload's exact size in bytes, the Content-Length its
	// PUT URL was signed for; 0 otherwise.
	Size int64
}

// payload is the JSON inside a token. Short names keep tokens short; the
// version lets a later format be told apart and refused by this one.
type payload struct {
	V           int    `json:"v"`
	ID          string `json:"id"`
	SourceType  string `json:"st"`
	SourceID    string `json:"sid"`
	MaxFileSize int64  `json:"max,omitempty"`
	ExpiresAt   int64  `json:"exp"`
	JobID       string `json:"job,omitempty"`
	Size        int64  `json:"size,omitempty"`
}

// ValidateSecret refuses a secret Mint and Verify would refuse, so that a
// server can check its configuration at start-up.
func ValidateSecret(secret []byte) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("%w: %d bytes, want at least %d (openssl rand -hex 32 makes one)", ErrWeakSecret, len(secret), MinSecretLen)
	}
	return nil
}

// NewID returns a fresh token id: IDPrefix and 26 lower-case base32
// characters carrying 128 random bits.
func NewID() string {
	return IDPrefix + strings.ToLower(rand.Text())
}

// Mint signs c with secret. An empty c.ID gets NewID().
func Mint(secret []byte, c Claims) (string, error) {
	if err := ValidateSecret(secret); err != nil {
		return "", err
	}
	if c.ExpiresAt.IsZero() {
		return "", errors.New("uploadtoken: ExpiresAt is required: a token must expire")
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	p := payload{
		V:           version,
		ID:          c.ID,
		SourceType:  c.SourceType,
		SourceID:    c.SourceID,
		MaxFileSize: c.MaxFileSize,
		ExpiresAt:   c.ExpiresAt.Unix(),
		JobID:       c.JobID,
		Size:        c.Size,
	}
	if err := p.validate(); err != nil {
		return "", err
	}
	js, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("uploadtoken: %w", err)
	}
	signed := Prefix + base64.RawURLEncoding.EncodeToString(js)
	return signed + "." + sign(secret, signed), nil
}

// Verify checks that token was minted with secret and has not expired at
// now, and returns its claims. It returns ErrInvalid or ErrExpired (test with
// errors.Is), with zero Claims; the signature is checked before anything in
// the token is decoded or compared, the expiry only after. A secret that
// ValidateSecret refuses fails with ErrWeakSecret: a configuration error,
// not the client's.
func Verify(secret []byte, token string, now time.Time) (Claims, error) {
	if err := ValidateSecret(secret); err != nil {
		return Claims{}, err
	}
	if len(token) > MaxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	if !strings.HasPrefix(token, Prefix) {
		return Claims{}, fmt.Errorf("%w: does not start with %q", ErrInvalid, Prefix)
	}
	signed, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: no signature", ErrInvalid)
	}
	// Comparing the encoded forms refuses a signature spelled differently
	// (base64 leaves spare bits in its last character) as well as a wrong
	// one: a token verifies only exactly as minted.
	if !hmac.Equal([]byte(sig), []byte(sign(secret, signed))) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalid)
	}

	js, err := base64.RawURLEncoding.DecodeString(signed[len(Prefix):])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() {
		return Claims{}, fmt.Errorf("%w: payload is not a version %d token", ErrInvalid, version)
	}
	if p.V != version {
		return Claims{}, fmt.Errorf("%w: version %d, want %d", ErrInvalid, p.V, version)
	}
	if err := p.validate(); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := Claims{
		ID:          p.ID,
		SourceType:  p.SourceType,
		SourceID:    p.SourceID,
		MaxFileSize: p.MaxFileSize,
		ExpiresAt:   time.Unix(p.ExpiresAt, 0).UTC(),
		JobID:       p.JobID,
		Size:        p.Size,
	}
	if !now.Before(c.ExpiresAt) {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	}
	return c, nil
}

// validate holds the rules on claims, at Mint and, for a token minted
// elsewhere with the same secret, at Verify.
func (p payload) validate() error {
	switch {
	case p.ID == "":
		return errors.New("uploadtoken: ID is empty")
	case p.SourceType == "" || p.SourceID == "":
		return errors.New("uploadtoken: SourceType and SourceID are required")
	case p.MaxFileSize < 0:
		return fmt.Errorf("uploadtoken: MaxFileSize %d is negative", p.MaxFileSize)
	case p.Size < 0:
		return fmt.Errorf("uploadtoken: Size %d is negative", p.Size)
	case p.ExpiresAt <= 0:
		return errors.New("uploadtoken: ExpiresAt is not after 1970")
	}
	return nil
}

// sign is the token's signature over signed: unpadded base64url of
// HMAC-SHA256 keyed with secret.
func sign(secret []byte, signed string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
