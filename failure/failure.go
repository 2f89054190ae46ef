// Package failure is ximagepipeline's one error type. Every refusal of a
// request and every job that ends FAILED carries an HTTP status, a machine
// code, a message safe to show a client, and whether trying again can
// help; the cause stays in the error chain for logs and is never shown.
// The messages are built here, once: the HTTP API, the Go API, the worker
// and the status body all take them from this package.
package failure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Error is a refusal or a job's failure.
type Error struct {
	Status  int    // HTTP status of a refusal (a FAILED job's status route answers 500 whatever its code)
	Code    string // machine code, e.g. "FILE_TOO_LARGE"
	Message string // safe to show
	// Retryable says the same work may succeed later (storage or database
	// unavailable, a moderation provider down): a job is tried again with
	// backoff, up to its attempts; a client may send its request again.
	Retryable bool
	Err       error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match on the code, so that callers can test against
// the sentinels below whatever the message's details.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with a detailed message (when not empty) and a
// cause.
func (e *Error) With(message string, cause error) *Error {
	c := *e
	if message != "" {
		c.Message = message
	}
	c.Err = cause
	return &c
}

// codes lists every code of the sentinels below, in their order, for
// Codes.
var codes []string

// sentinel makes one of the package's errors and registers its code.
func sentinel(status int, code, message string) *Error {
	codes = append(codes, code)
	return &Error{Status: status, Code: code, Message: message}
}

// retryable is e marked Retryable.
func retryable(e *Error) *Error {
	e.Retryable = true
	return e
}

// Codes lists every machine code an answer or a job's FAILED status may
// carry, once each, in the order they are defined here: what the API's
// documentation must list (the OpenAPI test holds it to that).
func Codes() []string {
	var out []string
	for _, c := range codes {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Refusals of an upload, in the contract's validation order, then the
// server's own.
var (
	ErrNoFile             = sentinel(http.StatusBadRequest, "NO_FILE", "No file provided")
	ErrMissingFields      = sentinel(http.StatusBadRequest, "MISSING_FIELDS", "sourceType and sourceId are required")
	ErrUnknownSourceType  = sentinel(http.StatusBadRequest, "UNKNOWN_SOURCE_TYPE", "Unknown sourceType")
	ErrInvalidSourceID    = sentinel(http.StatusBadRequest, "INVALID_SOURCE_ID", "Invalid sourceId")
	ErrFileTypeNotAllowed = sentinel(http.StatusBadRequest, "FILE_TYPE_NOT_ALLOWED", "File type not allowed")
	ErrFileTooLarge       = sentinel(http.StatusBadRequest, "FILE_TOO_LARGE", "File too large")
	ErrImageTooLarge      = sentinel(http.StatusBadRequest, "IMAGE_TOO_LARGE", "Image too large")
	ErrBadUpload          = sentinel(http.StatusBadRequest, "BAD_UPLOAD", "Upload could not be read")
	ErrStorage            = retryable(sentinel(http.StatusInternalServerError, "STORAGE_ERROR", "Failed to upload file to storage"))
	ErrQueue              = retryable(sentinel(http.StatusInternalServerError, "QUEUE_ERROR", "Failed to create processing job"))
	ErrBusy               = retryable(sentinel(http.StatusServiceUnavailable, "BUSY", "Too many uploads in progress, retry later"))
	// ErrBadRequest is a request that is not what the route takes: a
	// body that is not the JSON it expects, a value out of range, an
	// upload with both a file and a url.
	ErrBadRequest = sentinel(http.StatusBadRequest, "INVALID_REQUEST", "Invalid request")
)

// Refusals of an upload token (package uploadtoken), on the routes that
// take one instead of an API key.
var (
	// ErrTokenInvalid: malformed, tampered with, signed with another
	// secret, absent where one is required, or presented to a server that
	// has no secret.
	ErrTokenInvalid = sentinel(http.StatusUnauthorized, "TOKEN_INVALID", "Invalid upload token")
	// ErrTokenExpired: genuine but past its expiry; ask for a new one.
	ErrTokenExpired = sentinel(http.StatusUnauthorized, "TOKEN_EXPIRED", "Upload token expired")
	// ErrTokenUsed: the token already created its job.
	ErrTokenUsed = sentinel(http.StatusForbidden, "TOKEN_USED", "Upload token already used: ask for a new one")
	// ErrTokenInUse: another upload with the token is being received.
	ErrTokenInUse = sentinel(http.StatusConflict, "TOKEN_IN_USE", "Upload token is in use by another upload")
	// ErrTokenMismatch: the token is for another sourceType, sourceId or
	// job than the request names.
	ErrTokenMismatch = sentinel(http.StatusForbidden, "TOKEN_MISMATCH", "Upload token is for another upload")
	// ErrTokensDisabled: the mint route of a server without a secret.
	ErrTokensDisabled = sentinel(http.StatusNotFound, "UPLOAD_TOKENS_DISABLED", "Upload tokens are not enabled on this server")
)

// Refusals of a direct upload (a token with direct: true, then the
// complete route).
var (
	ErrDirectUnavailable = sentinel(http.StatusBadRequest, "DIRECT_UPLOAD_UNAVAILABLE",
		"Direct uploads need a storage that presigns uploads (S3, R2): upload to uploadUrl instead")
	ErrNotUploaded = sentinel(http.StatusConflict, "NOT_UPLOADED",
		"The file has not been uploaded yet: PUT it to putUrl, then complete")
	ErrIncompleteUpload = sentinel(http.StatusBadRequest, "INCOMPLETE_UPLOAD", "Upload incomplete")
)

// Refusals of an upload from a URL (a url instead of a file). Their
// messages never name an address: the fetcher's errors, which do, are only
// logged.
var (
	ErrURLIngestDisabled = sentinel(http.StatusBadRequest, "URL_INGEST_DISABLED", "Uploads from a URL are disabled on this server")
	ErrURLInvalid        = sentinel(http.StatusBadRequest, "URL_INVALID",
		"url must be an absolute http:// or https:// URL without credentials, its host a name or a plain IP address")
	ErrURLForbidden = sentinel(http.StatusBadRequest, "URL_FORBIDDEN",
		"url leads to an address this server does not fetch from (private, loopback, link-local or reserved)")
	ErrURLFetchFailed = sentinel(http.StatusBadRequest, "URL_FETCH_FAILED", "Could not fetch url")
	ErrURLTimeout     = sentinel(http.StatusBadRequest, "URL_TIMEOUT", "Fetching url took too long")
)

// Refusals of the standalone server's access checks (internal/access).
var (
	ErrUnauthorized = sentinel(http.StatusUnauthorized, "UNAUTHORIZED", "An API key is required")
	ErrForbidden    = sentinel(http.StatusForbidden, "FORBIDDEN", "This API key may not do that")
	ErrRateLimited  = sentinel(http.StatusTooManyRequests, "RATE_LIMITED", "Too many uploads, retry later")
)

// Refusals of the other routes.
var (
	ErrJobNotFound   = sentinel(http.StatusNotFound, "JOB_NOT_FOUND", "Job not found")
	ErrMediaNotFound = sentinel(http.StatusNotFound, "MEDIA_NOT_FOUND", "Media not found")
	ErrBadWait       = sentinel(http.StatusBadRequest, "INVALID_WAIT", "wait must be a duration such as 30s")
	// ErrInternal answers failures that are no client's fault.
	ErrInternal = retryable(sentinel(http.StatusInternalServerError, "INTERNAL_ERROR", "Internal server error"))
)

// Failures of a job, the code of its FAILED status. IMAGE_TOO_LARGE also
// ends a job whose header the upload could not read.
var (
	ErrUndecodable      = sentinel(http.StatusUnprocessableEntity, "UNDECODABLE", "Image could not be decoded")
	ErrOriginalTooLarge = sentinel(http.StatusUnprocessableEntity, "ORIGINAL_TOO_LARGE", "Original too large once re-encoded")
	// ErrModerationUnavailable: the provider could not check the image on
	// any attempt (its details are only logged).
	ErrModerationUnavailable = retryable(sentinel(http.StatusServiceUnavailable, "MODERATION_UNAVAILABLE", "Content moderation unavailable"))
	ErrSourceTypeRemoved     = sentinel(http.StatusUnprocessableEntity, "SOURCE_TYPE_REMOVED", "Source type is no longer configured")
	ErrStagedFileMissing     = sentinel(http.StatusGone, "STAGED_FILE_MISSING", "The uploaded file is missing from staging")
	// ErrProcessing is any other failure that outlived its attempts: a
	// worker that died on the last one, a timeout, a database error.
	ErrProcessing = retryable(sentinel(http.StatusInternalServerError, "PROCESSING_ERROR", "Processing failed"))
)

// JobCodes are the codes a FAILED job's status may carry (README "Job
// failures").
func JobCodes() []string {
	var out []string
	for _, e := range []*Error{ErrUndecodable, ErrImageTooLarge, ErrOriginalTooLarge, ErrStorage,
		ErrModerationUnavailable, ErrSourceTypeRemoved, ErrStagedFileMissing, ErrProcessing} {
		out = append(out, e.Code)
	}
	return out
}

// UnknownSourceType refuses a source type that is not configured.
func UnknownSourceType(name string) *Error {
	return ErrUnknownSourceType.With("Unknown sourceType: "+name, nil)
}

// FileType refuses a sniffed type that is not allowed.
func FileType(mime string) *Error {
	return ErrFileTypeNotAllowed.With(fmt.Sprintf("File type %s not allowed", mime), nil)
}

// FileTooLarge refuses an upload over maxBytes.
func FileTooLarge(maxBytes int64) *Error {
	return ErrFileTooLarge.With(fmt.Sprintf("File too large. Maximum size: %sMB", MB(maxBytes)), nil)
}

// ImageTooLarge refuses an image over maxPixels (width x height x frames).
func ImageTooLarge(maxPixels int64) *Error {
	return ErrImageTooLarge.With(fmt.Sprintf("Image too large. Maximum: %s megapixels", megapixels(maxPixels)), nil)
}

// OriginalTooLarge fails a job whose re-encoded original is over maxBytes.
func OriginalTooLarge(maxBytes int64) *Error {
	return ErrOriginalTooLarge.With(fmt.Sprintf("Original too large once re-encoded. Maximum size: %sMB", MB(maxBytes)), nil)
}

// Undecodable fails a job whose image cannot be decoded; detail says why.
func Undecodable(detail string, cause error) *Error {
	return ErrUndecodable.With("Image could not be decoded: "+detail, cause)
}

// SourceTypeRemoved fails a job whose source type was removed from the
// configuration while it waited.
func SourceTypeRemoved(name string) *Error {
	return ErrSourceTypeRemoved.With("Source type "+name+" is no longer configured", nil)
}

// StorageFailed is a job's failure to read its staged upload or to write
// its outputs (STORAGE_ERROR, as ErrStorage): it may pass. what says which
// ("could not read the staged upload"); the storage's error is only the
// cause, for logs: its text names the storage's endpoint, and a FAILED
// status is read by clients (an upload token's browser) and webhooks.
func StorageFailed(what string, err error) *Error {
	return ErrStorage.With("Processing failed: "+what, err)
}

// StorageRefusedKey fails a job whose output key the storage refuses:
// retrying cannot change the key.
func StorageRefusedKey(key string, cause error) *Error {
	e := ErrStorage.With("Storage refused the key "+key, cause)
	e.Retryable = false
	return e
}

// Processing is what a job records when err ends it: err itself when it
// is an *Error, else ErrProcessing with err's text ("Processing failed:
// ..."), as the queue reports a worker's last error.
func Processing(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrProcessing.With("Processing failed: timed out", err)
	}
	// Anything else says only that: its text (a database's, a library's)
	// may name internal hosts, and a status is read by browsers and
	// webhooks. The cause goes to the log.
	return ErrProcessing.With("", err)
}

// Abandoned is the failure of a job the queue gave up on without an
// outcome recorded (its worker died on the last attempt, say). The queue's
// last error of it is not shown, as Processing's.
func Abandoned() *Error { return ErrProcessing.With("", nil) }

// As turns any error into an *Error: one passes through, anything else
// becomes fallback with err as its cause (a 500 whose cause is only
// logged).
func As(err error, fallback *Error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fallback.With("", err)
}

// Permanent reports whether err is an *Error that retrying cannot fix.
func Permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Retryable
}

// MB prints a byte limit in MiB without a needless fraction: 50, 0.5.
func MB(n int64) string { return trimFloat(float64(n) / (1 << 20)) }

// megapixels prints a pixel limit in megapixels: 100, 0.25.
func megapixels(n int64) string { return trimFloat(float64(n) / 1e6) }

// trimFloat prints at most three decimals, none when they are zero: 50,
// 0.195, 1.5.
func trimFloat(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

// BadRequest refuses a request with what is wrong with it.
func BadRequest(message string) *Error { return ErrBadRequest.With(message, nil) }

// TokenInvalid refuses a token that is not one of this server's; detail,
// when set, says more (no token where one is required, say).
func TokenInvalid(detail string) *Error {
	if detail == "" {
		return ErrTokenInvalid
	}
	return ErrTokenInvalid.With("Invalid upload token: "+detail, nil)
}

// TokenExpired refuses a token past its expiry.
func TokenExpired(at time.Time) *Error {
	return ErrTokenExpired.With("Upload token expired at "+at.UTC().Format(time.RFC3339)+": ask for a new one", nil)
}

// TokenOwnerMismatch refuses an upload whose sourceType or sourceId is not
// the token's.
func TokenOwnerMismatch(sourceType, sourceID string) *Error {
	return ErrTokenMismatch.With(fmt.Sprintf("Upload token is for sourceType %s and sourceId %s", sourceType, sourceID), nil)
}

// TokenJobMismatch refuses a request about a job the token is not for.
func TokenJobMismatch(jobID string) *Error {
	return ErrTokenMismatch.With("Upload token is not for job "+jobID, nil)
}

// IncompleteUpload refuses a direct upload whose stored object is not the
// size the token was signed for.
func IncompleteUpload(stored, signed int64) *Error {
	return ErrIncompleteUpload.With(fmt.Sprintf("Upload incomplete: %d of %d bytes stored; PUT the whole file again, then complete", stored, signed), nil)
}

// URLFetchFailed refuses an upload whose url could not be fetched; why is
// safe to show (an HTTP status, "too many redirects"), never an address.
func URLFetchFailed(why string, cause error) *Error {
	return ErrURLFetchFailed.With("Could not fetch url: "+why, cause)
}

// URLTimeout refuses an upload whose url did not arrive within limit.
func URLTimeout(limit time.Duration, cause error) *Error {
	return ErrURLTimeout.With("Fetching url took longer than "+limit.String(), cause)
}

// Write answers e as JSON: its status and {"error": message, "code": code}.
func Write(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.Status)
	// An error here means the client is gone: there is no one to tell.
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Message, "code": e.Code})
}
