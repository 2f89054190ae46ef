// Package imagefile reads image files as bytes, in pure Go and before any
// decoder sees them: it sniffs their type (Sniff), reads their dimensions
// from the header (ReadHeader), refuses the small files that would cost a
// decoder far more than their pixels suggest (Guard), and cuts metadata out
// of an encoded image without decoding it (StripMetadata).
//
// It must never import cgo, directly or through another package: the upload
// path and an API-only server use it without libvips. Everything here is
// safe for concurrent use and parses hostile bytes, so every parser has a
// fuzz target.
package imagefile

import (
	"errors"
	"fmt"
)

// ErrUndecodable marks input that can never be decoded (corrupt, truncated,
// unsupported or refused by a guard). Callers fail the job at once instead
// of retrying. The errors that say why are UndecodableErrors, which match
// it (errors.Is); package imaging returns them too, for what libvips cannot
// decode.
var ErrUndecodable = errors.New("imaging: image cannot be decoded")

// UndecodableError is ErrUndecodable with its reason, which a failed job's
// message shows ("Image could not be decoded: " + Reason).
type UndecodableError struct{ Reason string }

// Undecodable returns an UndecodableError whose reason is format with args,
// as fmt.Sprintf makes it.
func Undecodable(format string, args ...any) error {
	return &UndecodableError{Reason: fmt.Sprintf(format, args...)}
}

func (e *UndecodableError) Error() string { return ErrUndecodable.Error() + ": " + e.Reason }

// Is makes an UndecodableError match ErrUndecodable.
func (e *UndecodableError) Is(target error) bool { return target == ErrUndecodable }
