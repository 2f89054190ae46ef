package ximagepipeline_test

// The pipeline end to end on every backend: SQLite or PostgreSQL (a
// throwaway cluster per test binary, a database per test), with the local
// directory or a real S3 server (versitygw). With S3 the URLs come from the
// S3 store and the handler serves no files.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
	"github.com/ximagepipeline/ximagepipeline/storage"
	"github.com/ximagepipeline/ximagepipeline/storage/s3"
	"github.com/ximagepipeline/ximagepipeline/storage/storagetest"
)

// newS3 starts a versitygw server whose bucket anyone may read (as a bucket
// behind a CDN), and returns it with a store on it; edit changes the store's
// config.
func newS3(t *testing.T, edit func(*s3.Config)) (*storagetest.S3Server, *s3.Store) {
	t.Helper()
	srv := storagetest.StartS3(t)
	srv.AllowAnonymousRead(t, srv.Bucket)
	return srv, s3Store(t, srv, edit)
}

func s3Store(t *testing.T, srv *storagetest.S3Server, edit func(*s3.Config)) *s3.Store {
	t.Helper()
	cfg := s3.Config{
		Endpoint: srv.Endpoint, Bucket: srv.Bucket, Region: srv.Region,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey,
		PathStyle: true, Insecure: true,
	}
	if edit != nil {
		edit(&cfg)
	}
	st, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return st
}

// bucketKeys lists every object of a store, by key.
func bucketKeys(t *testing.T, st storage.Storage) []string {
	t.Helper()
	var keys []string
	err := st.List(t.Context(), "", func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list bucket: %v", err)
	}
	slices.Sort(keys)
	return keys
}

var backendCases = []struct {
	name      string
	postgres  bool
	s3        bool
	publicURL string // with S3: the CDN in front of the bucket
}{
	{name: "sqlite+local"},
	{name: "postgres+local", postgres: true},
	{name: "sqlite+s3", s3: true},
	{name: "postgres+s3", postgres: true, s3: true},
	{name: "postgres+s3+cdn", postgres: true, s3: true, publicURL: "https://cdn.example.com/img"},
}

// TestBackendsEndToEnd uploads an oriented JPEG carrying EXIF, XMP and GPS
// on every backend, and checks what a client gets: the media, variants
// served with the right type and cache policy from their URLs, and nothing
// left staged; then deletes the media and checks every object is gone.
func TestBackendsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, bc := range backendCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			var (
				srv *storagetest.S3Server
				st  *s3.Store
			)
			e := newEnv(t, func(c *xip.Config) {
				if bc.postgres {
					c.DatabaseURL = pgtest.Start(t)
				}
				if bc.s3 {
					srv, st = newS3(t, func(sc *s3.Config) { sc.PublicURL = bc.publicURL })
					c.Storage = st
				}
			})
			data := testimages.OrientedJPEG(testimages.Quadrants(600, 400), 6)
			jobID := e.uploadOK("gallery", "owner-1", "photo.jpg", data)
			m := e.waitMedia(jobID)
			mediaID, _ := m["id"].(string)
			if m["width"] != 600.0 || m["height"] != 400.0 || m["aspectRatio"] != "3:2" {
				t.Errorf("media size %vx%v %v, want 600x400 3:2", m["width"], m["height"], m["aspectRatio"])
			}

			base := e.prefix() + "/files" // local: served by the handler
			switch {
			case bc.publicURL != "":
				base = bc.publicURL
			case bc.s3:
				base = srv.URL + "/" + srv.Bucket
			}
			urls, _ := m["urls"].(map[string]any)
			wantWidth := map[string]int{"md": 400, "lg": 600, "xl": 600} // never enlarged
			for name, w := range wantWidth {
				key := path.Join("media/gallery/owner-1", mediaID, name+".webp")
				if urls[name] != base+"/"+key {
					t.Errorf("urls[%s] = %v, want %s", name, urls[name], base+"/"+key)
					continue
				}
				// A CDN's URL cannot be fetched here: read the same key
				// from the bucket's own URL.
				u := urls[name].(string)
				if bc.publicURL != "" {
					u = srv.URL + "/" + srv.Bucket + "/" + key
				}
				body, header := fetchPublic(t, e, u)
				if ct := header.Get("Content-Type"); ct != "image/webp" {
					t.Errorf("%s: Content-Type %q, want image/webp", name, ct)
				}
				if bc.s3 {
					if cc := header.Get("Cache-Control"); cc != s3.ImmutableCacheControl {
						t.Errorf("%s: Cache-Control %q, want %q", name, cc, s3.ImmutableCacheControl)
					}
				}
				assertCleanWebP(t, name, body)
				img, _ := decode(t, body)
				if got := img.Bounds().Dx(); got != w {
					t.Errorf("%s: width %d, want %d", name, got, w)
				}
				quadrants(t, name, img)
			}
			orig, _ := m["originalUrl"].(string)
			if want := base + "/" + path.Join("originals/gallery/owner-1", mediaID, "original.jpg"); orig != want {
				t.Errorf("originalUrl = %q, want %q", orig, want)
			}

			if bc.s3 {
				// The handler serves files only from local storage.
				if code, _, _ := e.fetchAny(e.prefix() + "/files/media/gallery/owner-1/" + mediaID + "/md.webp"); code != http.StatusNotFound {
					t.Errorf("handler served a file of S3 storage: %d, want 404", code)
				}
				waitKeys(t, st, []string{
					"media/gallery/owner-1/" + mediaID + "/lg.webp",
					"media/gallery/owner-1/" + mediaID + "/md.webp",
					"media/gallery/owner-1/" + mediaID + "/xl.webp",
					"originals/gallery/owner-1/" + mediaID + "/original.jpg",
				})
			} else {
				e.waitNothingStaged()
			}

			if code, body := e.delete(e.prefix() + "/media/" + mediaID); code != http.StatusNoContent {
				t.Fatalf("DELETE media: %d %v", code, body)
			}
			if code, _ := e.get(e.prefix() + "/media/" + mediaID); code != http.StatusNotFound {
				t.Errorf("GET deleted media: %d, want 404", code)
			}
			if bc.s3 {
				waitKeys(t, st, nil)
			} else {
				e.waitNoFiles("media", "originals")
			}
			if code, body := e.status(jobID); code != http.StatusOK || body["status"] != "COMPLETE" || body["media"] != nil {
				t.Errorf("status after delete: %d %v, want COMPLETE without media", code, body)
			}
		})
	}
}

// fetchPublic GETs a stored file's URL anonymously, as a browser would.
func fetchPublic(t *testing.T, e *env, url string) ([]byte, http.Header) {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = e.srv.URL + url
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body, resp.Header
}

// waitKeys waits until the store holds exactly want (sorted): the worker
// removes the staged upload just after recording the outcome.
func waitKeys(t *testing.T, st storage.Storage, want []string) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for {
		got := bucketKeys(t, st)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bucket holds %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresSharedByPipelines runs an API-only pipeline and two worker
// pipelines, started at the same time on one new PostgreSQL database and
// one bucket (their migrations must not collide), and checks that every
// upload of the API is processed exactly once by the workers.
func TestPostgresSharedByPipelines(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Start(t)
	_, st := newS3(t, nil)
	pipelines := make([]*xip.Pipeline, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range pipelines {
		wg.Go(func() {
			pipelines[i], errs[i] = xip.New(context.Background(), xip.Config{
				DatabaseURL: dbURL, Storage: st, Logger: quietLogger(), Concurrency: 2,
				DisableWorkers: i == 0, RetryBackoff: 10 * time.Millisecond,
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New #%d: %v", i, err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pipelines[i].Close(ctx)
		})
	}
	api := pipelines[0]
	const n = 20
	img := testimages.JPEG(testimages.Quadrants(200, 160), 85)
	var jobs []string
	for i := range n {
		id, err := api.Upload(t.Context(), xip.UploadRequest{SourceType: "avatar", SourceID: fmt.Sprintf("u%d", i), File: strings.NewReader(string(img))})
		if err != nil {
			t.Fatalf("Upload: %v", err)
		}
		jobs = append(jobs, id)
	}
	var want []string
	for i, id := range jobs {
		j := waitJob(t, api, id)
		if j.Status != xip.StatusComplete || j.Media == nil || j.Attempts != 1 {
			t.Fatalf("job %s: %+v, want COMPLETE at the first attempt", id, j)
		}
		for _, v := range []string{"sm", "xs"} {
			want = append(want, fmt.Sprintf("media/avatar/u%d/%s/%s.webp", i, j.Media.ID, v))
		}
	}
	slices.Sort(want)
	waitKeys(t, st, want)
}

// With S3 staging, an upload up to 512 KB is buffered and sent in one PUT
// of known size; a larger one streams as a multipart upload (an S3 ETag
// with a part count). Both arrive whole.
func TestS3StagingSmallUploadsInOnePut(t *testing.T) {
	t.Parallel()
	srv, st := newS3(t, nil)
	e := newEnv(t, func(cfg *xip.Config) { cfg.Storage = st; cfg.DisableWorkers = true })
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	for _, c := range []struct {
		name      string
		size      int
		multipart bool
	}{
		{"small", 100 << 10, false},
		{"just under the buffer", 512<<10 - 400, false}, // the form's other bytes stay under 512 KB
		{"large", 3 << 20, true},
	} {
		data := testimages.Pad(jpg, c.size)
		id := e.uploadOK("gallery", "u", "a.jpg", data)
		key := "staging/" + id
		info, err := srv.Client.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatalf("%s: stat %s: %v", c.name, key, err)
		}
		if got := strings.Contains(info.ETag, "-"); got != c.multipart {
			t.Errorf("%s (%d bytes): ETag %q, multipart %v, want %v", c.name, c.size, info.ETag, got, c.multipart)
		}
		obj, err := srv.Client.GetObject(t.Context(), srv.Bucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(stored, data) {
			t.Fatalf("%s: staged %d bytes (%v), want the %d uploaded", c.name, len(stored), err, len(data))
		}
	}
}
