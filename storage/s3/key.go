package s3

import "github.com/ximagepipeline/ximagepipeline/storage"

// ErrInvalidKey is storage.ErrInvalidKey: the key rule is the same for
// every adapter (storage.ValidateKey).
var ErrInvalidKey = storage.ErrInvalidKey
