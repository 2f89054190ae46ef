// Package storage defines where ximagepipeline keeps bytes: staged uploads,
// variants and originals. Adapters live in sub-packages (storage/local,
// storage/s3); users may plug their own by implementing Storage.
package storage

import (
	"context"
	"errors"
	"io"
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

// Object describes one stored object in a listing.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}
