package storage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned for keys that are empty, absolute, or contain a
// backslash, a NUL byte, or an empty, "." or ".." segment. Keys come partly
// from clients (sourceId): such a key could name a file outside a local
// store's directory, and breaks path-style and CDN URLs (clients normalise
// dot segments), so no adapter accepts one. The pipeline never makes them;
// a bug that does is caught here.
var ErrInvalidKey = errors.New("storage: invalid key")

// ValidateKey reports whether key is a valid object key: the one rule every
// adapter applies (an adapter may add its own, as storage/local does).
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if err := validatePath(key); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
	}
	return nil
}

// ValidatePrefix accepts what List accepts: "" or a string whose complete
// segments (all but the text after the last '/') form a valid key.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if strings.ContainsAny(prefix, "\\\x00") || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q", ErrInvalidKey, prefix)
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		if err := validatePath(prefix[:i]); err != nil {
			return fmt.Errorf("%w: prefix %q: %s", ErrInvalidKey, prefix, err)
		}
	}
	return nil
}

func validatePath(p string) error {
	switch {
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.ContainsRune(p, '\\'):
		return errors.New("backslash")
	case strings.ContainsRune(p, 0):
		return errors.New("NUL byte")
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return errors.New("empty segment")
		case ".", "..":
			return errors.New("dot segment")
		}
	}
	return nil
}
