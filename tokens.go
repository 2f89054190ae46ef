package ximagepipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// UploadTokenRequest asks for an upload token: permission for whoever holds
// it (a browser, a phone) to upload one image for one owner without an API
// key, through the pipeline or, with Direct, straight into the bucket.
type UploadTokenRequest struct {
	// SourceType and SourceID are the owner the upload will be for,
	// checked as an upload's are.
	SourceType string
	SourceID   string
	// MaxFileSize caps the file in bytes below Config.MaxFileSize. 0, or
	// more than Config.MaxFileSize: Config.MaxFileSize.
	MaxFileSize int64
	// ExpiresIn is the token's life, 1 s to Config.UploadTokenMaxLifetime.
	// 0: Config.UploadTokenLifetime.
	ExpiresIn time.Duration
	// Direct asks for a presigned PUT URL: the client PUTs the file to the
	// bucket, then completes the upload (CompleteUpload, or POST
	// {Prefix}/uploads/{jobId}/complete). Only with a storage that
	// implements storage.Presigner (storage/s3); DIRECT_UPLOAD_UNAVAILABLE
	// otherwise.
	Direct bool
	// Size is the file's exact size in bytes, required with Direct: the PUT
	// URL is signed for that Content-Length. Ignored without Direct.
	Size int64
	// ContentType is the PUT's Content-Type with Direct, one of the allowed
	// types; default application/octet-stream. The type that counts is
	// still the one sniffed from the bytes. Ignored without Direct.
	ContentType string
}

// UploadToken is a minted token with where to use it: the body of POST
// {Prefix}/upload-tokens.
type UploadToken struct {
	// Token goes in the upload's Authorization header: "Bearer xut_...".
	Token      string    `json:"token"`
	ExpiresAt  time.Time `json:"expiresAt"`
	SourceType string    `json:"sourceType"`
	SourceID   string    `json:"sourceId"`
	// MaxFileSize is the largest file the token allows, in bytes.
	MaxFileSize int64 `json:"maxFileSize"`
	// UploadURL is where to POST the multipart upload ({Prefix}/upload).
	UploadURL string `json:"uploadUrl"`

	// A direct upload's: the job reserved for it, the URL to PUT the file
	// to with exactly PutHeaders, and the URL to POST once it is there.
	JobID       string            `json:"jobId,omitempty"`
	PutURL      string            `json:"putUrl,omitempty"`
	PutHeaders  map[string]string `json:"putHeaders,omitempty"`
	CompleteURL string            `json:"completeUrl,omitempty"`
}

// directContentType is a direct upload's Content-Type when its request
// names none.
const directContentType = "application/octet-stream"

// MintUploadToken makes an upload token for req, refusing what an upload
// would refuse (MISSING_FIELDS, UNKNOWN_SOURCE_TYPE, INVALID_SOURCE_ID; with
// Direct, FILE_TYPE_NOT_ALLOWED for the declared type and FILE_TOO_LARGE for
// the size) and what the request gets wrong (INVALID_REQUEST). Without
// Config.UploadTokenSecret it returns ErrTokensDisabled. The caller decides
// who may have a token: the route is guarded like any other.
func (p *Pipeline) MintUploadToken(ctx context.Context, req UploadTokenRequest) (UploadToken, error) {
	if p.cfg.UploadTokenSecret == "" {
		return UploadToken{}, ErrTokensDisabled
	}
	if err := p.checkFields(nil, &req.SourceType, &req.SourceID); err != nil {
		return UploadToken{}, err
	}
	maxSize := p.cfg.MaxFileSize
	switch {
	case req.MaxFileSize < 0:
		return UploadToken{}, failure.BadRequest("maxFileSize must be a number of bytes above 0")
	case req.MaxFileSize > 0 && req.MaxFileSize < maxSize:
		maxSize = req.MaxFileSize
	}
	life := req.ExpiresIn
	if life == 0 {
		life = p.cfg.UploadTokenLifetime
	}
	if life < time.Second || life > p.cfg.UploadTokenMaxLifetime {
		return UploadToken{}, failure.BadRequest(fmt.Sprintf("expiresIn must be 1 to %d seconds", int64(p.cfg.UploadTokenMaxLifetime/time.Second)))
	}
	// Tokens keep their expiry to the second: the answer says the same.
	expires := time.Now().Add(life).Truncate(time.Second).UTC()
	claims := uploadtoken.Claims{SourceType: req.SourceType, SourceID: req.SourceID, MaxFileSize: maxSize, ExpiresAt: expires}
	out := UploadToken{
		ExpiresAt: expires, SourceType: req.SourceType, SourceID: req.SourceID, MaxFileSize: maxSize,
		UploadURL: p.cfg.Prefix + "/upload",
	}

	var (
		presigner   storage.Presigner
		contentType = directContentType
	)
	if req.Direct {
		var ok bool
		if presigner, ok = p.storage.(storage.Presigner); !ok {
			return UploadToken{}, ErrDirectUnavailable
		}
		if req.Size <= 0 {
			return UploadToken{}, failure.BadRequest("size (the file's size in bytes) is required with direct")
		}
		if req.ContentType != "" {
			mt, _, err := mime.ParseMediaType(req.ContentType)
			if err != nil || !slices.Contains(p.cfg.AllowedTypes, mt) {
				return UploadToken{}, failure.FileType(req.ContentType)
			}
			contentType = mt
		}
		if req.Size > maxSize {
			return UploadToken{}, failure.FileTooLarge(maxSize)
		}
		claims.JobID, claims.Size = newID("job_"), req.Size
	}

	token, err := uploadtoken.Mint([]byte(p.cfg.UploadTokenSecret), claims)
	if err != nil {
		return UploadToken{}, fmt.Errorf("mint upload token: %w", err)
	}
	out.Token = token
	if !req.Direct {
		return out, nil
	}
	// The URL dies with the token: a PUT after the expiry could never be
	// completed, and its object would wait for the sweep.
	url, headers, err := presigner.PresignPut(ctx, p.layout.DirectUpload(claims.JobID), claims.Size, contentType,
		max(time.Until(expires), time.Second))
	if err != nil {
		return UploadToken{}, ErrStorage.With("", err)
	}
	out.JobID, out.PutURL = claims.JobID, url
	out.PutHeaders = make(map[string]string, len(headers))
	for k := range headers {
		out.PutHeaders[k] = headers.Get(k)
	}
	out.CompleteURL = p.cfg.Prefix + "/uploads/" + claims.JobID + "/complete"
	return out, nil
}

// bearerUploadToken returns the upload token of a request's
// "Authorization: Bearer xut_..." header, or "". Other bearer tokens (a
// host's API keys) are none of the pipeline's business.
//
// A request without a token is one the host vouched for, so this fails
// closed: any Authorization value a host might take for an upload token
// (RFC 7235 reads the scheme in any case and allows more spaces; the
// prefix in capitals) is returned as a token, which Verify refuses unless
// it is exactly as minted. Otherwise a host that let "bearer xut_forged"
// through to the pipeline would have it trusted like its own users.
func bearerUploadToken(r *http.Request) string {
	for _, v := range r.Header.Values("Authorization") {
		f := strings.Fields(v)
		if len(f) < 2 || !strings.EqualFold(f[0], "Bearer") ||
			len(f[1]) < len(uploadtoken.Prefix) || !strings.EqualFold(f[1][:len(uploadtoken.Prefix)], uploadtoken.Prefix) {
			continue
		}
		if v != "Bearer "+f[1] {
			return v // not a token as minted: refused as TOKEN_INVALID
		}
		return f[1]
	}
	return ""
}

// verifyToken checks an upload token's signature and, unless now is zero,
// its expiry.
func (p *Pipeline) verifyToken(token string, now time.Time) (*uploadtoken.Claims, error) {
	if p.cfg.UploadTokenSecret == "" {
		return nil, failure.TokenInvalid("upload tokens are not enabled on this server")
	}
	secret := []byte(p.cfg.UploadTokenSecret)
	c, err := uploadtoken.Verify(secret, token, now)
	if errors.Is(err, uploadtoken.ErrExpired) {
		// Verifying at the zero time skips the expiry: the message says
		// when it passed.
		if c, err := uploadtoken.Verify(secret, token, time.Time{}); err == nil {
			return nil, failure.TokenExpired(c.ExpiresAt)
		}
		return nil, ErrTokenExpired
	}
	if err != nil {
		return nil, ErrTokenInvalid.With("", err)
	}
	return &c, nil
}

// uploadGrant verifies the token of an upload through the pipeline (token
// "" is none: the host vouched for the client). A direct upload's token is
// for its complete step only.
func (p *Pipeline) uploadGrant(ctx context.Context, token string) (*uploadtoken.Claims, error) {
	if token == "" {
		return nil, nil
	}
	g, err := p.verifyToken(token, time.Now())
	if err != nil {
		return nil, err
	}
	if g.JobID != "" {
		return nil, ErrTokenMismatch.With("Upload token is for a direct upload: PUT the file to its putUrl, then POST its completeUrl", nil)
	}
	return g, p.checkUnused(ctx, g)
}

// checkUnused refuses a token that already created its job, before
// anything is staged. Only a hint: the job's transaction decides (a token
// used meanwhile fails there), so a database error here lets the upload go
// on to that decision.
func (p *Pipeline) checkUnused(ctx context.Context, g *uploadtoken.Claims) error {
	_, err := p.jobs.TokenJob(ctx, g.ID)
	switch {
	case err == nil:
		return ErrTokenUsed
	case !errors.Is(err, jobs.ErrNotFound):
		p.cfg.Logger.Warn("could not check whether an upload token was used; the job's transaction will", "err", err)
	}
	return nil
}

// tokenReadGrace is how long after its expiry a token still reads the
// status of the job it created: an upload sent in a token's last second
// must not lose sight of its job.
const tokenReadGrace = time.Hour

// checkTokenForJob lets a request that carries an upload token read the
// status of the job that token created (or reserved, for a direct upload),
// and no other; a request without one is the host's to guard.
func (p *Pipeline) checkTokenForJob(ctx context.Context, r *http.Request, jobID string) error {
	token := bearerUploadToken(r)
	if token == "" {
		return nil
	}
	g, err := p.verifyToken(token, time.Now().Add(-tokenReadGrace))
	if err != nil {
		return err
	}
	if g.JobID == jobID {
		return nil
	}
	created, err := p.jobs.TokenJob(ctx, g.ID)
	switch {
	case errors.Is(err, jobs.ErrNotFound), err == nil && created != jobID:
		return failure.TokenJobMismatch(jobID)
	case err != nil:
		return failure.ErrInternal.With("", err)
	}
	return nil
}

// CompleteUpload admits a direct upload once its client has PUT the file
// to the token's putUrl: the stored object must be exactly the signed size
// (INCOMPLETE_UPLOAD), then it takes the upload's way in (admit), with its
// checks, refusals and messages, and the job reserved by the token is
// queued. The token must be the one minted for jobID (TOKEN_MISMATCH), not
// used (TOKEN_USED), not expired. A refusal removes the object, except
// when trying again may help (STORAGE_ERROR, QUEUE_ERROR); one never
// completed is removed by the staging sweep.
func (p *Pipeline) CompleteUpload(ctx context.Context, jobID, token string) (_ string, err error) {
	ctx, done := p.traceUpload(ctx)
	defer func() { done(jobID, err) }()
	if token == "" {
		return "", failure.TokenInvalid("an upload token is required (Authorization: Bearer xut_...)")
	}
	g, err := p.verifyToken(token, time.Now())
	if err != nil {
		return "", err
	}
	if g.JobID == "" || g.JobID != jobID {
		return "", failure.TokenJobMismatch(jobID)
	}
	// Completes of one job in this process take turns, so that the second
	// finds the first's job rather than racing it to the same staged key.
	defer p.completing.lock(jobID)()
	if err := p.checkUnused(ctx, g); err != nil {
		return "", err
	}
	key := p.layout.DirectUpload(jobID)
	size, err := p.objectSize(ctx, key)
	if err != nil {
		return "", err
	}
	if size != g.Size {
		p.discard(key)
		return "", failure.IncompleteUpload(size, g.Size)
	}
	rc, err := p.storage.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return "", ErrNotUploaded
	}
	if err != nil {
		return "", ErrStorage.With("", err)
	}
	defer rc.Close()
	id, err := p.admit(ctx, &partList{parts: []formPart{{"file", storageReader{rc}}}}, g)
	if err == nil || failure.Permanent(err) {
		p.discard(key)
	}
	return id, err
}

// storageReader reads a stored object: its read errors are the storage's
// (STORAGE_ERROR), not the client's.
type storageReader struct{ r io.Reader }

func (s storageReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err != nil && err != io.EOF {
		err = ErrStorage.With("", err)
	}
	return n, err
}

// objectSize is the size of the object under key; ErrNotUploaded when
// there is none.
func (p *Pipeline) objectSize(ctx context.Context, key string) (int64, error) {
	size := int64(-1)
	err := p.storage.List(ctx, key, func(o storage.Object) error {
		if o.Key == key {
			size = o.Size
		}
		return nil
	})
	if err != nil {
		return 0, ErrStorage.With("", err)
	}
	if size < 0 {
		return 0, ErrNotUploaded
	}
	return size, nil
}

// keyLocks serialises work on one key (a direct upload's job) within this
// process.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int // holders and waiters
}

// lock takes key's lock and returns its release.
func (l *keyLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.users++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// tokenUploadGrace is how long past its token's expiry an upload's body
// may still be arriving: one started in the token's last minute, on a slow
// link.
const tokenUploadGrace = 10 * time.Minute

// inFlight is a set of keys in use (upload tokens whose upload is being
// received) within this process.
type inFlight struct {
	mu sync.Mutex
	m  map[string]bool
}

// take marks key in use and returns its release; ok is false when it was
// in use already.
func (f *inFlight) take(key string) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[key] {
		return nil, false
	}
	if f.m == nil {
		f.m = map[string]bool{}
	}
	f.m[key] = true
	return func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
	}, true
}
