package local

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidKey is returned for keys that cannot be mapped safely to a path
// under the store's directory: empty, absolute, containing a backslash or a
// NUL byte, an empty, "." or ".." segment, or a segment that starts with the
// reserved temporary-file prefix. Keys come partly from clients (sourceId),
// so a key must never be able to name a file outside the directory.
var ErrInvalidKey = errors.New("local: invalid storage key")

// tmpPrefix starts the name of every file that Put is still writing. Keys may
// not use it, so List and Handler can never see a half-written object.
const tmpPrefix = ".tmp-"

// validateKey reports whether key names a file below the root.
func validateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if err := validatePath(key); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, err)
	}
	return nil
}

// validatePrefix accepts what List accepts: "" or any string whose complete
// segments (all but the text after the last '/') form a valid key.
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
		switch {
		case seg == "":
			return errors.New("empty segment")
		case seg == "." || seg == "..":
			return errors.New("dot segment")
		case strings.HasPrefix(seg, tmpPrefix):
			return errors.New("reserved " + tmpPrefix + " segment")
		}
	}
	return nil
}
