package storage_test

import (
	"errors"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "media/avatar/u1/m1/sm.webp", "staging/job_1", "a/.b/c..d"} {
		if err := storage.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	for _, key := range []string{"", "/a", "a/", "a//b", "a/./b", "a/../b", "..", `a\b`, "a\x00b"} {
		if err := storage.ValidateKey(key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", "media/", "media/ava", "staging/job_"} {
		if err := storage.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/media", "a/../b/", "a//", `a\`, "a\x00"} {
		if err := storage.ValidatePrefix(p); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
}
