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

import "errors"

// ErrUndecodable marks input that can never be decoded (corrupt, truncated,
// unsupported or refused by a guard). Callers fail the job at once instead
// of retrying. Package imaging returns the same error for what libvips
// cannot decode; its text is what the worker cuts off before the reason.
var ErrUndecodable = errors.New("imaging: image cannot be decoded")
