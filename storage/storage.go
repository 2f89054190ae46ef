// Package storage defines where ximagepipeline keeps bytes: staged uploads,
// variants and originals. Adapters live in sub-packages (storage/local,
// storage/s3); users may plug their own by implementing Storage.
package storage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// ErrNotFound is returned by Get when no object has the key.
var ErrNotFound = errors.New("storage: object not found")

// Storage is a flat key space of immutable objects. Keys use '/' as the
// separator and never start with '/'. Implementations must be safe for
// concurrent use.
type Storage interface {
	// Put stores the reader's bytes under key, replacing any object there.
	// size is the exact length, or -1 when unknown (the reader is streamed,
	// never buffered whole). The object must be complete or absent: a failed
	// or cancelled Put leaves nothing readable under key.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object; it returns ErrNotFound when it does not exist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in no
	// particular order, stopping at the first error fn returns.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// URL is the public address of the object.
	URL(key string) string
	// Ping checks that the storage is reachable (for /readyz and start-up).
	Ping(ctx context.Context) error
}

// Presigner is a Storage that lets a client write one object itself, with a
// URL the server signs: a direct upload, so the bytes never pass through
// the server. The pipeline asks for it with a type assertion; storage/s3
// has it, storage/local does not.
type Presigner interface {
	// PresignPut returns a URL that accepts one PUT of exactly size bytes
	// of contentType to key until expiry has passed, and the headers the
	// PUT must carry. The URL cannot write another key, another length or
	// another type. Content-Length is among the headers for completeness:
	// HTTP clients, browsers included, set it from the body themselves.
	PresignPut(ctx context.Context, key string, size int64, contentType string, expiry time.Duration) (url string, headers http.Header, err error)
}

// Object describes one stored object in a listing.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}
