package local

import (
	"fmt"
	"strings"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

// ErrInvalidKey is storage.ErrInvalidKey. On top of storage.ValidateKey's
// rule, this store refuses a segment that starts with the reserved
// temporary-file prefix. Keys come partly from clients (sourceId), so a key
// must never be able to name a file outside the directory.
var ErrInvalidKey = storage.ErrInvalidKey

// tmpPrefix starts the name of every file that Put is still writing. Keys may
// not use it, so List and Handler can never see a half-written object; its
// '~' cannot occur in a source type or id, so no key the pipeline makes
// collides with it.
const tmpPrefix = ".tmp~"

// validateKey reports whether key names a file below the root.
func validateKey(key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	return reserved(key, key)
}

// validatePrefix accepts what List accepts (storage.ValidatePrefix), without
// a reserved segment among the complete ones.
func validatePrefix(prefix string) error {
	if err := storage.ValidatePrefix(prefix); err != nil {
		return err
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		return reserved(prefix, prefix[:i])
	}
	return nil
}

func reserved(key, p string) error {
	for seg := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(seg, tmpPrefix) {
			return fmt.Errorf("%w %q: reserved %s segment", ErrInvalidKey, key, tmpPrefix)
		}
	}
	return nil
}
