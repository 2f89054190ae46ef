package uploadtoken_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

var (
	secret      = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
	// now is the clock of every test; the claims below expire an hour later.
	now = time.Date(2029, 6, 1, 12, 0, 0, 0, time.UTC)
)

func claims() uploadtoken.Claims {
	return uploadtoken.Claims{
		SourceType:  "gallery",
		SourceID:    "user-42",
		MaxFileSize: 5 << 20,
		ExpiresAt:   now.Add(time.Hour),
	}
}

func mint(t testing.TB, c uploadtoken.Claims) string {
	t.Helper()
	tok, err := uploadtoken.Mint(secret, c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// signRaw builds a token around any payload bytes, following the format from
// the package comment rather than the package's code, so that tokens whose
// signature is right but whose content is not can be tested.
func signRaw(secret []byte, payload string) string {
	signed := "xut_" + base64.RawURLEncoding.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestKnownAnswer pins the format to a token built with the shell:
//
//	B=$(printf '%s' "$PAYLOAD" | basenc --base64url -w0 | tr -d =)
//	S=$(printf 'xut_%s' "$B" | openssl dgst -sha256 -hmac "$SECRET" -binary | basenc --base64url -w0 | tr -d =)
//	echo "xut_$B.$S"
func TestKnownAnswer(t *testing.T) {
	t.Parallel()
	const want = "xut_eyJ2IjoxLCJpZCI6InV0a19rbm93biIsInN0IjoiYXZhdGFyIiwic2lkIjoidXNlci00MiIsIm1heCI6MTA0ODU3NiwiZXhwIjoxODkzNDU2MDAwLCJqb2IiOiJqb2JfYWJjIn0.HDxkO7iYx7GafrB7cSkfU5uezAo93tVfraP8rDNm33E"
	c := uploadtoken.Claims{
		ID:          "utk_known",
		SourceType:  "avatar",
		SourceID:    "user-42",
		MaxFileSize: 1 << 20,
		ExpiresAt:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		JobID:       "job_abc",
	}
	if got := mint(t, c); got != want {
		t.Fatalf("Mint =\n%s\nwant\n%s", got, want)
	}
	got, err := uploadtoken.Verify(secret, want, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != c {
		t.Fatalf("Verify = %+v, want %+v", got, c)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, jobID := range []string{"", "job_0123456789abcdefghij"} {
		c := claims()
		c.JobID = jobID
		if jobID != "" {
			c.Size = 123_456 // a direct upload's
		}
		c.ExpiresAt = now.Add(90*time.Second + 700*time.Millisecond).In(time.FixedZone("X", 3600))
		tok := mint(t, c)
		got, err := uploadtoken.Verify(secret, tok, now)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got.ID == "" || got.SourceType != c.SourceType || got.SourceID != c.SourceID ||
			got.MaxFileSize != c.MaxFileSize || got.JobID != jobID || got.Size != c.Size {
			t.Errorf("Verify = %+v, want the claims %+v with an ID", got, c)
		}
		// Kept to the second, rounded down: a token never lives longer
		// than asked.
		if want := now.Add(90 * time.Second); !got.ExpiresAt.Equal(want) || got.ExpiresAt.Location() != time.UTC {
			t.Errorf("ExpiresAt = %v, want %v in UTC", got.ExpiresAt, want)
		}
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	form := regexp.MustCompile(`^utk_[a-z2-7]{26}$`) // 26 base32 characters: 130 bits, 128 of them random
	seen := map[string]bool{}
	for range 1000 {
		c, err := uploadtoken.Verify(secret, mint(t, claims()), now)
		if err != nil {
			t.Fatal(err)
		}
		if !form.MatchString(c.ID) {
			t.Fatalf("ID %q does not match %s", c.ID, form)
		}
		if seen[c.ID] {
			t.Fatalf("ID %q drawn twice", c.ID)
		}
		seen[c.ID] = true
	}
	if id := uploadtoken.NewID(); !form.MatchString(id) {
		t.Errorf("NewID() = %q, does not match %s", id, form)
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	tok := mint(t, claims())
	exp := now.Add(time.Hour)
	if _, err := uploadtoken.Verify(secret, tok, exp.Add(-time.Nanosecond)); err != nil {
		t.Errorf("a nanosecond before ExpiresAt: %v, want nil", err)
	}
	for _, at := range []time.Time{exp, exp.Add(time.Second), exp.Add(365 * 24 * time.Hour)} {
		c, err := uploadtoken.Verify(secret, tok, at)
		if !errors.Is(err, uploadtoken.ErrExpired) || errors.Is(err, uploadtoken.ErrInvalid) {
			t.Errorf("at %v: err = %v, want ErrExpired only", at, err)
		}
		if c != (uploadtoken.Claims{}) {
			t.Errorf("at %v: claims %+v returned with the error", at, c)
		}
	}
}

// TestRefused lists tokens Verify must refuse as ErrInvalid: never an
// expiry (each is checked at a time when a genuine token would have
// expired, so the signature must be refused first) and never claims.
func TestRefused(t *testing.T) {
	t.Parallel()
	tok := mint(t, claims())
	signed, sig, _ := strings.Cut(tok, ".")
	js, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(signed, "xut_"))
	// The same claims for another owner, with the original signature.
	forged := "xut_" + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(js), "user-42", "user-43", 1))) + "." + sig
	// A later expiry, with the original signature.
	extended := "xut_" + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(js), `"exp":`, `"exp":9`, 1))) + "." + sig
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	exp := now.Add(time.Hour).Unix()
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"prefix only", "xut_"},
		{"no signature", signed},
		{"empty signature", signed + "."},
		{"tampered payload: other owner", forged},
		{"tampered payload: later expiry", extended},
		{"tampered signature", signed + "." + flip(sig, 5)},
		{"signature of another token", signed + "." + strings.SplitN(mint(t, claims()), ".", 2)[1]},
		{"signed with another secret", func() string { s, _ := uploadtoken.Mint(otherSecret, claims()); return s }()},
		{"wrong prefix", "xat_" + strings.TrimPrefix(tok, "xut_")},
		{"upper-case prefix", "XUT_" + strings.TrimPrefix(tok, "xut_")},
		{"no prefix", strings.TrimPrefix(tok, "xut_")},
		{"truncated signature", tok[:len(tok)-1]},
		{"truncated payload", signed[:len(signed)-4] + "." + sig},
		{"padded signature", tok + "="},
		{"trailing dot", tok + "."},
		{"trailing newline", tok + "\n"},
		{"leading space", " " + tok},
		{"two tokens", tok + "." + tok},
		{"huge", tok + strings.Repeat("A", uploadtoken.MaxTokenLen)},
		{"very huge", strings.Repeat("x", 64<<20)},
		// Signed correctly, but not a token this version wrote.
		{"unknown version", signRaw(secret, `{"v":2,"id":"utk_a","st":"gallery","sid":"user-42","exp":1}`)},
		{"no version", signRaw(secret, `{"id":"utk_a","st":"gallery","sid":"user-42","exp":9999999999}`)},
		{"unknown field", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","exp":9999999999,"admin":true}`)},
		{"trailing JSON", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","exp":9999999999}{}`)},
		{"not JSON", signRaw(secret, `not json`)},
		{"empty payload", signRaw(secret, ``)},
		{"JSON null", signRaw(secret, `null`)},
		{"no id", signRaw(secret, `{"v":1,"st":"gallery","sid":"user-42","exp":9999999999}`)},
		{"no owner", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","exp":9999999999}`)},
		{"negative size", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","max":-1,"exp":9999999999}`)},
		{"negative direct size", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","exp":9999999999,"job":"job_a","size":-1}`)},
		{"no expiry", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42"}`)},
		{"string expiry", signRaw(secret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","exp":"9999999999"}`)},
		{"payload not base64url", func() string {
			mac := hmac.New(sha256.New, secret)
			mac.Write([]byte("xut_{}"))
			return "xut_{}." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, at := range []time.Time{now, time.Unix(exp, 0).Add(time.Hour)} {
				c, err := uploadtoken.Verify(secret, tc.token, at)
				if !errors.Is(err, uploadtoken.ErrInvalid) || errors.Is(err, uploadtoken.ErrExpired) {
					t.Fatalf("at %v: err = %v, want ErrInvalid only", at, err)
				}
				if c != (uploadtoken.Claims{}) {
					t.Fatalf("claims %+v returned with the error", c)
				}
			}
		})
	}
	// The original still verifies: the cases above did not pass by
	// accident of a broken fixture.
	if _, err := uploadtoken.Verify(secret, tok, now); err != nil {
		t.Fatalf("original token: %v", err)
	}
}

// TestSignatureFirst shows the order: a forged token is refused for its
// signature even when its payload could not be decoded at all.
func TestSignatureFirst(t *testing.T) {
	t.Parallel()
	_, err := uploadtoken.Verify(secret, "xut_!!not-base64!!.AAAA", now)
	if !errors.Is(err, uploadtoken.ErrInvalid) || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("err = %v, want ErrInvalid for the signature", err)
	}
}

// TestEveryMutation changes, deletes or inserts one character at every
// position of a token: no such token verifies.
func TestEveryMutation(t *testing.T) {
	t.Parallel()
	tok := mint(t, claims())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00"
	check := func(mutant, what string) {
		t.Helper()
		if mutant == tok {
			return
		}
		if _, err := uploadtoken.Verify(secret, mutant, now); !errors.Is(err, uploadtoken.ErrInvalid) {
			t.Fatalf("%s: err = %v, want ErrInvalid", what, err)
		}
	}
	for i := range len(tok) + 1 {
		for _, r := range alphabet {
			if i < len(tok) {
				check(tok[:i]+string(r)+tok[i+1:], "replace")
			}
			check(tok[:i]+string(r)+tok[i:], "insert")
		}
		if i < len(tok) {
			check(tok[:i]+tok[i+1:], "delete")
		}
	}
}

func TestTruncations(t *testing.T) {
	t.Parallel()
	tok := mint(t, claims())
	for n := range len(tok) {
		if _, err := uploadtoken.Verify(secret, tok[:n], now); !errors.Is(err, uploadtoken.ErrInvalid) {
			t.Fatalf("first %d bytes: err = %v, want ErrInvalid", n, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	short := secret[:31]
	if err := uploadtoken.ValidateSecret(short); !errors.Is(err, uploadtoken.ErrWeakSecret) {
		t.Errorf("ValidateSecret(31 bytes) = %v, want ErrWeakSecret", err)
	}
	if err := uploadtoken.ValidateSecret(nil); !errors.Is(err, uploadtoken.ErrWeakSecret) {
		t.Errorf("ValidateSecret(nil) = %v, want ErrWeakSecret", err)
	}
	if err := uploadtoken.ValidateSecret(secret); err != nil {
		t.Errorf("ValidateSecret(32 bytes) = %v, want nil", err)
	}
	if _, err := uploadtoken.Mint(short, claims()); !errors.Is(err, uploadtoken.ErrWeakSecret) {
		t.Errorf("Mint with 31 bytes: %v, want ErrWeakSecret", err)
	}
	// A token minted with a good secret is not checked with a weak one:
	// a configuration mistake shows as such, not as a client's bad token.
	if _, err := uploadtoken.Verify(short, mint(t, claims()), now); !errors.Is(err, uploadtoken.ErrWeakSecret) {
		t.Errorf("Verify with 31 bytes: %v, want ErrWeakSecret", err)
	}
}

func TestMintRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*uploadtoken.Claims)
	}{
		{"no source type", func(c *uploadtoken.Claims) { c.SourceType = "" }},
		{"no source id", func(c *uploadtoken.Claims) { c.SourceID = "" }},
		{"no expiry", func(c *uploadtoken.Claims) { c.ExpiresAt = time.Time{} }},
		{"expiry before 1970", func(c *uploadtoken.Claims) { c.ExpiresAt = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"negative size", func(c *uploadtoken.Claims) { c.MaxFileSize = -1 }},
		{"negative direct size", func(c *uploadtoken.Claims) { c.Size = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := claims()
			tc.modify(&c)
			if tok, err := uploadtoken.Mint(secret, c); err == nil {
				t.Fatalf("Mint(%+v) = %q, want an error", c, tok)
			}
		})
	}
}

// FuzzVerify feeds Verify arbitrary strings, starting from a genuine token
// and damaged copies of it. Verify must never panic, must fail only with
// ErrInvalid or ErrExpired and zero claims, and must accept no string but
// the genuine token: the fuzzer cannot forge an HMAC, so any other string
// that verified would be a flaw in the parsing.
func FuzzVerify(f *testing.F) {
	c := claims()
	c.JobID = "job_fuzz"
	// A fixed ID: the fuzzing workers are separate processes, and each
	// must mint the same token.
	c.ID = "utk_fuzz"
	valid := mint(f, c)
	signed, sig, _ := strings.Cut(valid, ".")
	for _, s := range []string{
		valid, signed, signed + ".", "." + sig, valid + valid, "", "xut_", "xut_.", "xut_e30.",
		signRaw(otherSecret, `{"v":1,"id":"utk_a","st":"gallery","sid":"user-42","exp":9999999999}`),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := uploadtoken.Verify(secret, token, now)
		if err == nil {
			if token != valid {
				t.Fatalf("Verify accepted %q, which is not the token minted", token)
			}
			if got.JobID != "job_fuzz" || got.SourceID != "user-42" {
				t.Fatalf("claims = %+v", got)
			}
			return
		}
		if !errors.Is(err, uploadtoken.ErrInvalid) && !errors.Is(err, uploadtoken.ErrExpired) {
			t.Fatalf("err = %v, want ErrInvalid or ErrExpired", err)
		}
		if got != (uploadtoken.Claims{}) {
			t.Fatalf("claims %+v returned with %v", got, err)
		}
	})
}
