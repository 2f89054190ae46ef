package ximagepipeline

import "github.com/ximagepipeline/ximagepipeline/failure"

// Error is a refusal a client can act on, or the failure of a job: an HTTP
// status, a machine code, a message safe to show and whether trying again
// can help (package failure, where every message is built). Every refusal
// of the contract is one; errors.Is matches the sentinels below by code.
type Error = failure.Error

// Sentinels for errors.Is. Errors returned carry the detailed message.
var (
	ErrNoFile             = failure.ErrNoFile
	ErrMissingFields      = failure.ErrMissingFields
	ErrUnknownSourceType  = failure.ErrUnknownSourceType
	ErrInvalidSourceID    = failure.ErrInvalidSourceID
	ErrFileTypeNotAllowed = failure.ErrFileTypeNotAllowed
	ErrFileTooLarge       = failure.ErrFileTooLarge
	ErrImageTooLarge      = failure.ErrImageTooLarge
	ErrBadUpload          = failure.ErrBadUpload
	ErrStorage            = failure.ErrStorage
	ErrQueue              = failure.ErrQueue
	ErrBusy               = failure.ErrBusy
	ErrJobNotFound        = failure.ErrJobNotFound
	ErrMediaNotFound      = failure.ErrMediaNotFound
	ErrBadRequest         = failure.ErrBadRequest

	// Upload tokens.
	ErrTokenInvalid   = failure.ErrTokenInvalid
	ErrTokenExpired   = failure.ErrTokenExpired
	ErrTokenUsed      = failure.ErrTokenUsed
	ErrTokenInUse     = failure.ErrTokenInUse
	ErrTokenMismatch  = failure.ErrTokenMismatch
	ErrTokensDisabled = failure.ErrTokensDisabled

	// Direct uploads.
	ErrDirectUnavailable = failure.ErrDirectUnavailable
	ErrNotUploaded       = failure.ErrNotUploaded
	ErrIncompleteUpload  = failure.ErrIncompleteUpload

	// Uploads from a URL.
	ErrURLIngestDisabled = failure.ErrURLIngestDisabled
	ErrURLInvalid        = failure.ErrURLInvalid
	ErrURLForbidden      = failure.ErrURLForbidden
	ErrURLFetchFailed    = failure.ErrURLFetchFailed
	ErrURLTimeout        = failure.ErrURLTimeout
)
