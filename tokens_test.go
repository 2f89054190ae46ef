package ximagepipeline_test

// Upload tokens: an app's backend mints one (POST {prefix}/upload-tokens or
// MintUploadToken), a browser uploads with it instead of an API key. Every
// refusal a client can meet is checked with its exact body, and that a
// refused upload leaves nothing staged and does not spend the token.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// testSecret signs the tests' tokens: 32 bytes, the least accepted.
const testSecret = "test-secret-0123456789abcdefghij"

// withTokens turns upload tokens on.
func withTokens(c *xip.Config) { c.UploadTokenSecret = testSecret }

// send makes a request to the pipeline's server with an optional bearer
// token and body, and decodes the JSON answer.
func (e *env) send(method, path, token, contentType string, body io.Reader) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// mint posts a token request (any JSON value) to the mint route.
func (e *env) mint(request any) (int, map[string]any) {
	e.t.Helper()
	b, err := json.Marshal(request)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(http.MethodPost, e.prefix()+"/upload-tokens", "", "application/json", bytes.NewReader(b))
}

// mintOK mints a token and returns the answer, failing unless 201.
func (e *env) mintOK(request any) map[string]any {
	e.t.Helper()
	code, body := e.mint(request)
	if code != http.StatusCreated {
		e.t.Fatalf("mint %v: %d %v", request, code, body)
	}
	return body
}

// uploadWith posts a multipart upload with a bearer token.
func (e *env) uploadWith(token string, parts ...part) (int, map[string]any) {
	e.t.Helper()
	body, ct := form(parts...)
	return e.send(http.MethodPost, e.prefix()+"/upload", token, ct, bytes.NewReader(body))
}

// acceptedBody is an upload's 202 answer.
func (e *env) acceptedBody(jobID string) map[string]any {
	return map[string]any{"jobId": jobID, "message": "File uploaded. Processing started.", "statusUrl": e.prefix() + "/status/" + jobID}
}

// assertAccepted fails unless an answer is an upload's 202, and returns its
// job id.
func (e *env) assertAccepted(what string, code int, body map[string]any) string {
	e.t.Helper()
	id, _ := body["jobId"].(string)
	if code != http.StatusAccepted || !strings.HasPrefix(id, "job_") || !jsonEqual(body, e.acceptedBody(id)) {
		e.t.Fatalf("%s: %d %v, want 202 with a job", what, code, body)
	}
	return id
}

// assertRefused fails unless an answer is the refusal status with exactly
// {"error": msg, "code": code}.
func assertRefused(t *testing.T, what string, gotStatus int, got map[string]any, status int, msg, code string) {
	t.Helper()
	if gotStatus != status || !jsonEqual(got, errBody(msg, code)) {
		t.Errorf("%s: %d %v, want %d %v", what, gotStatus, got, status, errBody(msg, code))
	}
}

// assertGalleryOutput checks a finished gallery upload of a 600x400
// Quadrants image: its owner, and its md variant fetched, decoded, 400
// wide and upright.
func assertGalleryOutput(t *testing.T, e *env, m map[string]any, sourceType, sourceID string) {
	t.Helper()
	if m["sourceType"] != sourceType || m["sourceId"] != sourceID || m["width"] != 600.0 || m["height"] != 400.0 {
		t.Errorf("media %v/%v %vx%v, want %s/%s 600x400", m["sourceType"], m["sourceId"], m["width"], m["height"], sourceType, sourceID)
	}
	urls, _ := m["urls"].(map[string]any)
	u, _ := urls["md"].(string)
	if u == "" {
		t.Fatalf("media without an md URL: %v", m)
	}
	data, _ := fetchPublic(t, e, u)
	assertCleanWebP(t, "md", data)
	img, format := decode(t, data)
	if format != "webp" || img.Bounds().Dx() != 400 || img.Bounds().Dy() != 267 {
		t.Errorf("md: %s %v, want webp 400x267", format, img.Bounds().Size())
	}
	quadrants(t, "md", img)
}

// TestUploadToken: a token minted by the route lets a client without an
// API key upload once, for the token's owner, with the fields omitted; the
// job is processed; the token's bearer may read that job's status and
// events, and no other's.
func TestUploadToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens)
	before := time.Now()
	tok := e.mintOK(map[string]any{"sourceType": "gallery", "sourceId": "user-42"})
	token, _ := tok["token"].(string)
	expires, err := time.Parse(time.RFC3339, tok["expiresAt"].(string))
	if err != nil || !strings.HasPrefix(token, uploadtoken.Prefix) {
		t.Fatalf("mint answer %v: token and RFC 3339 expiresAt expected (%v)", tok, err)
	}
	want := map[string]any{
		"token": token, "expiresAt": tok["expiresAt"], "sourceType": "gallery", "sourceId": "user-42",
		"maxFileSize": float64(xip.DefaultMaxFileSize), "uploadUrl": e.prefix() + "/upload",
	}
	if !jsonEqual(tok, want) {
		t.Errorf("mint answer %v, want %v", tok, want)
	}
	// The default lifetime, kept to the second.
	if lo, hi := before.Add(xip.DefaultUploadTokenLifetime-time.Second), time.Now().Add(xip.DefaultUploadTokenLifetime); expires.Before(lo) || expires.After(hi) {
		t.Errorf("expiresAt %v, want 15 minutes from now (%v to %v)", expires, lo, hi)
	}

	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	code, body := e.uploadWith(token, file("a.jpg", jpg))
	jobID := e.assertAccepted("upload with the token", code, body)

	// The token reads its job's status and events...
	code, body = e.send(http.MethodGet, e.prefix()+"/status/"+jobID+"?wait=30s", token, "", nil)
	if code != http.StatusOK || body["status"] != "COMPLETE" {
		t.Errorf("status with the token: %d %v, want 200 COMPLETE", code, body)
	}
	assertGalleryOutput(t, e, e.waitMedia(jobID), "gallery", "user-42")
	if code, stream := e.events(jobID, token); code != http.StatusOK || !strings.Contains(stream, `"status":"COMPLETE"`) {
		t.Errorf("events with the token: %d %q, want 200 and the COMPLETE event", code, stream)
	}

	// ...and not another job's, nor its events.
	other := e.uploadOK("gallery", "user-42", "b.jpg", jpg)
	for _, path := range []string{"/status/" + other, "/events/" + other} {
		code, body := e.send(http.MethodGet, e.prefix()+path, token, "", nil)
		assertRefused(t, "GET "+path+" with another job's token", code, body, 403, "Upload token is not for job "+other, "TOKEN_MISMATCH")
	}

	// Used once: a second upload is refused, before and whatever it sends.
	jobs, queued := e.countRows()
	code, body = e.uploadWith(token, file("a.jpg", jpg))
	assertRefused(t, "second upload", code, body, 403, "Upload token already used: ask for a new one", "TOKEN_USED")
	code, body = e.uploadWith(token, field("sourceType", "gallery"), field("sourceId", "user-42"), file("c.jpg", jpg))
	assertRefused(t, "third upload, with the fields", code, body, 403, "Upload token already used: ask for a new one", "TOKEN_USED")
	if j, q := e.countRows(); j != jobs || q != queued {
		t.Errorf("refused uploads recorded jobs: %d rows, %d queued; want %d, %d", j, q, jobs, queued)
	}
	e.waitNothingStaged()
}

// TestUploadTokenRefusals: every way a token is refused (401 TOKEN_INVALID,
// 401 TOKEN_EXPIRED, 403 TOKEN_MISMATCH, 403 TOKEN_USED), with its exact
// body, nothing staged or recorded; a refused upload does not spend the
// token; the token's size cap bounds the file.
func TestUploadTokenRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens)
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	mint := func(c uploadtoken.Claims) string {
		tok, err := uploadtoken.Mint([]byte(testSecret), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	owner := func() uploadtoken.Claims {
		return uploadtoken.Claims{SourceType: "gallery", SourceID: "user-7", ExpiresAt: time.Now().Add(time.Minute)}
	}
	good := mint(owner())
	tampered := []byte(good)
	tampered[len(uploadtoken.Prefix)+4] ^= 1
	otherSecret, err := uploadtoken.Mint([]byte("another-secret-0123456789abcdefg"), owner())
	if err != nil {
		t.Fatal(err)
	}
	expiredClaims := owner()
	expiredClaims.ExpiresAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	removedType := owner()
	removedType.SourceType = "nope"

	const invalid = "Invalid upload token"
	cases := []struct {
		name      string
		token     string
		parts     []part
		status    int
		msg, code string
	}{
		{"malformed", "xut_garbage", []part{file("a.jpg", jpg)}, 401, invalid, "TOKEN_INVALID"},
		{"tampered", string(tampered), []part{file("a.jpg", jpg)}, 401, invalid, "TOKEN_INVALID"},
		{"another secret", otherSecret, []part{file("a.jpg", jpg)}, 401, invalid, "TOKEN_INVALID"},
		{"expired", mint(expiredClaims), []part{file("a.jpg", jpg)}, 401, "Upload token expired at 2025-01-02T03:04:05Z: ask for a new one", "TOKEN_EXPIRED"},
		{"token before anything: expired and no file", mint(expiredClaims), nil, 401, "Upload token expired at 2025-01-02T03:04:05Z: ask for a new one", "TOKEN_EXPIRED"},
		{"another sourceId", good, []part{field("sourceId", "user-8"), file("a.jpg", jpg)}, 403, "Upload token is for sourceType gallery and sourceId user-7", "TOKEN_MISMATCH"},
		{"another sourceType, after the file", good, []part{file("a.jpg", jpg), field("sourceType", "avatar")}, 403, "Upload token is for sourceType gallery and sourceId user-7", "TOKEN_MISMATCH"},
		{"a source type no longer configured", mint(removedType), []part{file("a.jpg", jpg)}, 400, "Unknown sourceType: nope", "UNKNOWN_SOURCE_TYPE"},
		{"no file", good, []part{field("sourceType", "gallery")}, 400, "No file provided", "NO_FILE"},
	}
	for _, c := range cases {
		code, body := e.uploadWith(c.token, c.parts...)
		assertRefused(t, c.name, code, body, c.status, c.msg, c.code)
	}
	// A refused upload does not spend the token: bad type, then too large
	// for the token's cap, then fine.
	capped := owner()
	capped.MaxFileSize = smallLimit
	token := mint(capped)
	code, body := e.uploadWith(token, file("a.svg", testimages.SVG))
	assertRefused(t, "SVG with a token", code, body, 400, "File type image/svg+xml not allowed", "FILE_TYPE_NOT_ALLOWED")
	code, body = e.uploadWith(token, file("big.jpg", testimages.Pad(jpg, smallLimit+1)))
	assertRefused(t, "over the token's cap", code, body, 400, "File too large. Maximum size: 0.25MB", "FILE_TOO_LARGE")
	e.assertNothingStaged()
	if jobs, queued := e.countRows(); jobs != 0 || queued != 0 {
		t.Errorf("refusals recorded %d jobs, %d queued", jobs, queued)
	}
	code, body = e.uploadWith(token, field("sourceType", "gallery"), field("sourceId", "user-7"), file("a.jpg", jpg))
	jobID := e.assertAccepted("the same token after two refusals", code, body)
	assertGalleryOutput(t, e, e.waitMedia(jobID), "gallery", "user-7")

	// A token whose job is unknown to it reads no status, even an expired
	// one within the grace of an hour, and an hour past it none at all.
	unused := mint(owner())
	code, body = e.send(http.MethodGet, e.prefix()+"/status/"+jobID, unused, "", nil)
	assertRefused(t, "status with a token that created no job", code, body, 403, "Upload token is not for job "+jobID, "TOKEN_MISMATCH")
	code, body = e.send(http.MethodGet, e.prefix()+"/status/"+jobID, mint(expiredClaims), "", nil)
	assertRefused(t, "status with a token expired long ago", code, body, 401, "Upload token expired at 2025-01-02T03:04:05Z: ask for a new one", "TOKEN_EXPIRED")
	code, body = e.send(http.MethodGet, e.prefix()+"/status/"+jobID, "xut_garbage", "", nil)
	assertRefused(t, "status with a malformed token", code, body, 401, invalid, "TOKEN_INVALID")
}

// TestMintRefusals: the mint route checks its request as an upload's
// fields are checked, and refuses what it cannot give.
func TestMintRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens)
	const badBody = "The body must be one JSON object: {sourceType, sourceId, maxFileSize?, expiresIn?, direct?, size?, contentType?}"
	cases := []struct {
		name      string
		body      any
		status    int
		msg, code string
	}{
		{"no fields", map[string]any{}, 400, "sourceType and sourceId are required", "MISSING_FIELDS"},
		{"no sourceId", map[string]any{"sourceType": "gallery"}, 400, "sourceType and sourceId are required", "MISSING_FIELDS"},
		{"unknown source type", map[string]any{"sourceType": "nope", "sourceId": "u"}, 400, "Unknown sourceType: nope", "UNKNOWN_SOURCE_TYPE"},
		{"bad source id", map[string]any{"sourceType": "gallery", "sourceId": "../etc"}, 400, "Invalid sourceId", "INVALID_SOURCE_ID"},
		{"not JSON", "sourceType=gallery", 400, badBody, "INVALID_REQUEST"},
		{"unknown field", map[string]any{"sourceType": "gallery", "sourceId": "u", "filename": "a.jpg"}, 400, badBody, "INVALID_REQUEST"},
		{"wrong type", map[string]any{"sourceType": "gallery", "sourceId": "u", "expiresIn": "60"}, 400, badBody, "INVALID_REQUEST"},
		{"negative maxFileSize", map[string]any{"sourceType": "gallery", "sourceId": "u", "maxFileSize": -1}, 400, "maxFileSize must be a number of bytes above 0", "INVALID_REQUEST"},
		{"expiresIn over the maximum", map[string]any{"sourceType": "gallery", "sourceId": "u", "expiresIn": 3601}, 400, "expiresIn must be 1 to 3600 seconds", "INVALID_REQUEST"},
		{"expiresIn negative", map[string]any{"sourceType": "gallery", "sourceId": "u", "expiresIn": -5}, 400, "expiresIn must be 1 to 3600 seconds", "INVALID_REQUEST"},
		{"expiresIn huge", map[string]any{"sourceType": "gallery", "sourceId": "u", "expiresIn": int64(1) << 60}, 400, "expiresIn must be 1 to 3600 seconds", "INVALID_REQUEST"},
		{"direct with local storage", map[string]any{"sourceType": "gallery", "sourceId": "u", "direct": true, "size": 1000}, 400,
			"Direct uploads need a storage that presigns uploads (S3, R2): upload to uploadUrl instead", "DIRECT_UPLOAD_UNAVAILABLE"},
	}
	for _, c := range cases {
		code, body := e.mint(c.body)
		assertRefused(t, c.name, code, body, c.status, c.msg, c.code)
	}
	// A cap above the pipeline's limit is the pipeline's limit; a lifetime
	// in range is kept.
	tok := e.mintOK(map[string]any{"sourceType": "avatar", "sourceId": "u", "maxFileSize": 1 << 40, "expiresIn": 60})
	if tok["maxFileSize"] != float64(xip.DefaultMaxFileSize) {
		t.Errorf("maxFileSize %v, want the pipeline's %d", tok["maxFileSize"], xip.DefaultMaxFileSize)
	}
	if exp, _ := time.Parse(time.RFC3339, tok["expiresAt"].(string)); time.Until(exp) > time.Minute {
		t.Errorf("expiresAt %v: more than the minute asked", exp)
	}
}

// TestUploadTokensDisabled: without a secret the mint route answers 404
// UPLOAD_TOKENS_DISABLED, and a token is refused wherever it is shown, even
// one that would be genuine elsewhere.
func TestUploadTokensDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	code, body := e.mint(map[string]any{"sourceType": "gallery", "sourceId": "u"})
	assertRefused(t, "mint", code, body, 404, "Upload tokens are not enabled on this server", "UPLOAD_TOKENS_DISABLED")
	if _, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u"}); !errors.Is(err, xip.ErrTokensDisabled) {
		t.Errorf("MintUploadToken: %v, want ErrTokensDisabled", err)
	}
	token, err := uploadtoken.Mint([]byte(testSecret), uploadtoken.Claims{SourceType: "gallery", SourceID: "u", ExpiresAt: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	const msg = "Invalid upload token: upload tokens are not enabled on this server"
	code, body = e.uploadWith(token, file("a.jpg", testimages.JPEG(testimages.Quadrants(60, 40), 90)))
	assertRefused(t, "upload with a token", code, body, 401, msg, "TOKEN_INVALID")
	code, body = e.send(http.MethodGet, e.prefix()+"/status/job_x", token, "", nil)
	assertRefused(t, "status with a token", code, body, 401, msg, "TOKEN_INVALID")
	e.assertNothingStaged()
}

// TestUploadTokenConcurrent: many uploads at once with one token make
// exactly one job; every other one is refused TOKEN_USED, and leaves
// nothing staged. On SQLite and PostgreSQL.
func TestUploadTokenConcurrent(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *xip.Config) {
				withTokens(c)
				c.DisableWorkers = true // the staged file of the one job stays: nothing else may
				if engine == "postgres" {
					c.DatabaseURL = pgtest.Start(t)
				}
			})
			tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "u"})
			if err != nil {
				t.Fatal(err)
			}
			jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
			const uploads = 24
			var (
				mu       sync.Mutex
				accepted []string
				refused  int
				wg       sync.WaitGroup
				start    = make(chan struct{})
			)
			for range uploads {
				wg.Go(func() {
					<-start
					code, body := e.uploadWith(tok.Token, file("a.jpg", jpg))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case code == http.StatusAccepted:
						accepted = append(accepted, body["jobId"].(string))
					case code == 403 && jsonEqual(body, errBody("Upload token already used: ask for a new one", "TOKEN_USED")),
						code == 409 && jsonEqual(body, errBody("Upload token is in use by another upload", "TOKEN_IN_USE")):
						refused++
					default:
						t.Errorf("upload: %d %v, want 202, 403 TOKEN_USED or 409 TOKEN_IN_USE", code, body)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(accepted) != 1 || refused != uploads-1 {
				t.Fatalf("%d accepted, %d refused TOKEN_USED or TOKEN_IN_USE; want 1 and %d", len(accepted), refused, uploads-1)
			}
			if engine == "sqlite" {
				if jobs, queued := e.countRows(); jobs != 1 || queued != 1 {
					t.Errorf("%d job rows, %d queued; want 1 and 1", jobs, queued)
				}
				if staged := e.files("staging"); len(staged) != 1 || staged[0] != accepted[0] {
					t.Errorf("staged %v, want only %s", staged, accepted[0])
				}
			}
			if job, err := e.p.GetStatus(t.Context(), accepted[0]); err != nil || job.Status != xip.StatusPending || job.SourceID != "u" {
				t.Errorf("the accepted job: %+v, %v; want PENDING for gallery/u", job, err)
			}
		})
	}
}

// TestUploadTokenGoAPI: the library's way: MintUploadToken returns what the
// route answers, Upload takes the token, and a second Upload with it is
// ErrTokenUsed.
func TestUploadTokenGoAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withTokens)
	tok, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "user-1", MaxFileSize: 1 << 20, ExpiresIn: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if tok.MaxFileSize != 1<<20 || tok.SourceType != "gallery" || tok.SourceID != "user-1" || tok.UploadURL != e.prefix()+"/upload" ||
		tok.JobID != "" || tok.PutURL != "" || time.Until(tok.ExpiresAt) > 90*time.Second {
		t.Errorf("MintUploadToken = %+v", tok)
	}
	jpg := testimages.JPEG(testimages.Quadrants(600, 400), 90)
	jobID, err := e.p.Upload(t.Context(), xip.UploadRequest{Token: tok.Token, File: bytes.NewReader(jpg)})
	if err != nil {
		t.Fatalf("Upload with the token: %v", err)
	}
	assertGalleryOutput(t, e, e.waitMedia(jobID), "gallery", "user-1")
	_, err = e.p.Upload(t.Context(), xip.UploadRequest{Token: tok.Token, File: bytes.NewReader(jpg)})
	if !errors.Is(err, xip.ErrTokenUsed) {
		t.Errorf("second Upload: %v, want ErrTokenUsed", err)
	}
	fresh, err := e.p.MintUploadToken(t.Context(), xip.UploadTokenRequest{SourceType: "gallery", SourceID: "user-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.p.Upload(t.Context(), xip.UploadRequest{Token: fresh.Token, SourceType: "avatar", File: bytes.NewReader(jpg)})
	if !errors.Is(err, xip.ErrTokenMismatch) {
		t.Errorf("Upload for another source type: %v, want ErrTokenMismatch", err)
	}
	e.waitNothingStaged()
}

// events reads a job's event stream to its end with a bearer token.
func (e *env) events(jobID, token string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+e.prefix()+"/events/"+jobID, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
