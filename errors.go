package ximagepipeline

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// Error is a refusal a client can act on: an HTTP status, a machine code
// and a message safe to show. Every refusal of the contract is one.
type Error struct {
	Status  int    // HTTP status code
	Code    string // machine code, e.g. "FILE_TOO_LARGE"
	Message string // the contract's message
	Err     error  // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is match on the code, so callers can test against the
// sentinels below whatever the message's details.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is. Errors returned carry the detailed message.
var (
	ErrNoFile             = &Error{Status: http.StatusBadRequest, Code: "NO_FILE", Message: "No file provided"}
	ErrMissingFields      = &Error{Status: http.StatusBadRequest, Code: "MISSING_FIELDS", Message: "sourceType and sourceId are required"}
	ErrUnknownSourceType  = &Error{Status: http.StatusBadRequest, Code: "UNKNOWN_SOURCE_TYPE", Message: "Unknown sourceType"}
	ErrInvalidSourceID    = &Error{Status: http.StatusBadRequest, Code: "INVALID_SOURCE_ID", Message: "Invalid sourceId"}
	ErrFileTypeNotAllowed = &Error{Status: http.StatusBadRequest, Code: "FILE_TYPE_NOT_ALLOWED", Message: "File type not allowed"}
	ErrFileTooLarge       = &Error{Status: http.StatusBadRequest, Code: "FILE_TOO_LARGE", Message: "File too large"}
	ErrImageTooLarge      = &Error{Status: http.StatusBadRequest, Code: "IMAGE_TOO_LARGE", Message: "Image too large"}
	ErrBadUpload          = &Error{Status: http.StatusBadRequest, Code: "BAD_UPLOAD", Message: "Upload could not be read"}
	ErrStorage            = &Error{Status: http.StatusInternalServerError, Code: "STORAGE_ERROR", Message: "Failed to upload file to storage"}
	ErrQueue              = &Error{Status: http.StatusInternalServerError, Code: "QUEUE_ERROR", Message: "Failed to create processing job"}
	ErrBusy               = &Error{Status: http.StatusServiceUnavailable, Code: "BUSY", Message: "Too many uploads in progress, retry later"}
	ErrJobNotFound        = &Error{Status: http.StatusNotFound, Code: "JOB_NOT_FOUND", Message: "Job not found"}
	ErrMediaNotFound      = &Error{Status: http.StatusNotFound, Code: "MEDIA_NOT_FOUND", Message: "Media not found"}
)

// refuse returns a copy of sentinel with a detailed message and cause.
func refuse(sentinel *Error, message string, cause error) *Error {
	e := *sentinel
	if message != "" {
		e.Message = message
	}
	e.Err = cause
	return &e
}

func errUnknownSourceType(name string) error {
	return refuse(ErrUnknownSourceType, "Unknown sourceType: "+name, nil)
}

func errFileType(mime string) error {
	return refuse(ErrFileTypeNotAllowed, fmt.Sprintf("File type %s not allowed", mime), nil)
}

func errFileTooLarge(maxBytes int64) error {
	return refuse(ErrFileTooLarge, fmt.Sprintf("File too large. Maximum size: %sMB", formatMB(maxBytes)), nil)
}

func errImageTooLarge(maxPixels int64) error {
	return refuse(ErrImageTooLarge, fmt.Sprintf("Image too large. Maximum: %s megapixels", formatMega(maxPixels)), nil)
}

// formatMB prints a byte limit in MiB without a needless fraction: 50, 0.5.
func formatMB(n int64) string { return trimFloat(float64(n) / (1 << 20)) }

// formatMega prints a pixel limit in megapixels: 100, 0.25.
func formatMega(n int64) string { return trimFloat(float64(n) / 1e6) }

// trimFloat prints at most three decimals, none when they are zero: 50, 0.195, 1.5.
func trimFloat(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

// asError turns any error into a client-safe *Error: refusals pass through,
// anything else becomes fallback (a 500 whose cause is only logged).
func asError(err error, fallback *Error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return refuse(fallback, "", err)
}
