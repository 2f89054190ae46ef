// Package failure is ximagepipeline's one error type. Every refusal of a
// request and every job that ends FAILED carries an HTTP status, a machine
// code, a message safe to show a client, and whether trying again can
// help; the cause stays in the error chain for logs and is never shown.
// The messages are built here, once: the HTTP API, the Go API, the worker
// and the status body all take them from this package.
package failure

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
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

func sentinel(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
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
	ErrStorage            = &Error{Status: http.StatusInternalServerError, Code: "STORAGE_ERROR", Message: "Failed to upload file to storage", Retryable: true}
	ErrQueue              = &Error{Status: http.StatusInternalServerError, Code: "QUEUE_ERROR", Message: "Failed to create processing job", Retryable: true}
	ErrBusy               = &Error{Status: http.StatusServiceUnavailable, Code: "BUSY", Message: "Too many uploads in progress, retry later", Retryable: true}
)

// Refusals of the other routes.
var (
	ErrJobNotFound   = sentinel(http.StatusNotFound, "JOB_NOT_FOUND", "Job not found")
	ErrMediaNotFound = sentinel(http.StatusNotFound, "MEDIA_NOT_FOUND", "Media not found")
	ErrBadWait       = sentinel(http.StatusBadRequest, "INVALID_WAIT", "wait must be a duration such as 30s")
	// ErrInternal answers failures that are no client's fault.
	ErrInternal = &Error{Status: http.StatusInternalServerError, Code: "INTERNAL_ERROR", Message: "Internal server error", Retryable: true}
)

// Failures of a job, the code of its FAILED status. IMAGE_TOO_LARGE also
// ends a job whose header the upload could not read.
var (
	ErrUndecodable      = sentinel(http.StatusUnprocessableEntity, "UNDECODABLE", "Image could not be decoded")
	ErrOriginalTooLarge = sentinel(http.StatusUnprocessableEntity, "ORIGINAL_TOO_LARGE", "Original too large once re-encoded")
	// ErrModerationUnavailable: the provider could not check the image on
	// any attempt (its details are only logged).
	ErrModerationUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "MODERATION_UNAVAILABLE", Message: "Content moderation unavailable", Retryable: true}
	ErrSourceTypeRemoved     = sentinel(http.StatusUnprocessableEntity, "SOURCE_TYPE_REMOVED", "Source type is no longer configured")
	ErrStagedFileMissing     = sentinel(http.StatusGone, "STAGED_FILE_MISSING", "The uploaded file is missing from staging")
	// ErrProcessing is any other failure that outlived its attempts: a
	// worker that died on the last one, a timeout, a database error.
	ErrProcessing = &Error{Status: http.StatusInternalServerError, Code: "PROCESSING_ERROR", Message: "Processing failed", Retryable: true}
)

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
// its outputs (STORAGE_ERROR, as ErrStorage): it may pass.
func StorageFailed(err error) *Error {
	return ErrStorage.With("Processing failed: "+err.Error(), err)
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
	return ErrProcessing.With("Processing failed: "+err.Error(), err)
}

// Abandoned is the failure of a job the queue gave up on without an
// outcome recorded (its worker died on the last attempt, say): lastError
// is the queue's last error of it, if any.
func Abandoned(lastError string) *Error {
	if lastError == "" {
		return ErrProcessing.With("", nil)
	}
	return ErrProcessing.With("Processing failed: "+lastError, nil)
}

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
