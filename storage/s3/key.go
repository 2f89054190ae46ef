package s3

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned for keys that are empty, absolute, or contain a
// backslash, a NUL byte, or an empty, "." or ".." segment. S3 itself would
// store them, but such keys break path-style and CDN URLs (clients normalise
// dot segments) and cannot be mirrored to a directory, so the pipeline never
// makes them and a bug that does is caught here. The rule is the same as
// storage/local's.
var ErrInvalidKey = errors.New("s3: invalid storage key")

func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if err := validatePath(key); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
	}
	return nil
}

// validatePrefix accepts "" or a string whose complete segments (all but
// the text after the last '/') are valid.
func validatePrefix(prefix string) error {
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
