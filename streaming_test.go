package ximagepipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"

	xip "github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

const (
	streamSize  = 60 << 20 // sent: more than the default 50 MiB limit
	allocBudget = 20 << 20 // what the server may allocate meanwhile
)

// imageStream writes a valid JPEG followed by zeros (ignored after EOI) to
// w until size bytes or a write error, counting what was written.
func imageStream(w io.Writer, size int64, written *atomic.Int64) error {
	jpg := testimages.JPEG(testimages.Quadrants(64, 48), 80)
	n, err := w.Write(jpg)
	written.Add(int64(n))
	if err != nil {
		return err
	}
	zeros := make([]byte, 64<<10)
	for left := size - int64(len(jpg)); left > 0; {
		n, err := w.Write(zeros[:min(int64(len(zeros)), left)])
		written.Add(int64(n))
		left -= int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// measure runs fn and returns how many bytes the whole process allocated
// meanwhile (runtime.MemStats.TotalAlloc, which only grows: a buffered
// upload shows however soon it is collected).
func measure(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestStreamingUploadTooLarge sends 60 MB, generated on the fly through
// io.Pipe, to the upload route with the default 50 MiB limit: it is refused
// FILE_TOO_LARGE while streaming, the server allocates a small fraction of
// the file size meanwhile, stops reading soon after the limit, and keeps
// nothing. It is not parallel, so that the allocation count is the
// server's own.
func TestStreamingUploadTooLarge(t *testing.T) {
	e := newEnv(t, func(cfg *xip.Config) { cfg.DisableWorkers = true })
	h := e.p.Handler()
	want := errBody("File too large. Maximum size: 50MB", "FILE_TOO_LARGE")

	t.Run("http", func(t *testing.T) {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		var written atomic.Int64
		done := make(chan error, 1)
		go func() {
			err := func() error {
				for _, f := range [][2]string{{"sourceType", "gallery"}, {"sourceId", "big"}} {
					if err := mw.WriteField(f[0], f[1]); err != nil {
						return err
					}
				}
				fw, err := mw.CreateFormFile("file", "big.jpg")
				if err != nil {
					return err
				}
				if err := imageStream(fw, streamSize, &written); err != nil {
					return err
				}
				return mw.Close()
			}()
			pw.CloseWithError(err)
			done <- err
		}()

		// The handler is called directly: a network client may see its
		// write fail before it reads the early answer, which is not what
		// is tested here.
		req := httptest.NewRequest(http.MethodPost, e.prefix()+"/upload", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		rec := httptest.NewRecorder()
		alloc := measure(func() { h.ServeHTTP(rec, req) })
		pr.CloseWithError(errors.New("server done"))
		<-done

		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || !jsonEqual(body, want) {
			t.Errorf("got %d %s, want 400 %v", rec.Code, rec.Body.Bytes(), want)
		}
		if alloc > allocBudget {
			t.Errorf("the server allocated %s while refusing a %s upload (budget %s)", mb(alloc), mb(streamSize), mb(allocBudget))
		}
		if n := written.Load(); n >= streamSize {
			t.Errorf("the server read all %s: it should stop soon after the limit", mb(uint64(n)))
		}
		t.Logf("allocated %s, client wrote %s of %s", mb(alloc), mb(uint64(written.Load())), mb(streamSize))
		e.assertNothingStaged()
	})

	t.Run("library", func(t *testing.T) {
		pr, pw := io.Pipe()
		var written atomic.Int64
		go func() { pw.CloseWithError(imageStream(pw, streamSize, &written)) }()
		var err error
		alloc := measure(func() {
			_, err = e.p.Upload(context.Background(), xip.UploadRequest{SourceType: "gallery", SourceID: "big", File: pr})
		})
		pr.CloseWithError(errors.New("done"))
		var xe *xip.Error
		if !errors.Is(err, xip.ErrFileTooLarge) || !errors.As(err, &xe) || xe.Message != want["error"] {
			t.Errorf("Upload: %v, want %v", err, want["error"])
		}
		if alloc > allocBudget {
			t.Errorf("Upload allocated %s while refusing a %s reader (budget %s)", mb(alloc), mb(streamSize), mb(allocBudget))
		}
		if n := written.Load(); n >= streamSize {
			t.Errorf("Upload read all %s", mb(uint64(n)))
		}
		e.assertNothingStaged()
	})
}

func mb(n uint64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
