package ximagepipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"time"

	"github.com/ximagepipeline/ximagepipeline"
)

// The examples run as tests: each opens a pipeline on a temporary
// directory (SQLite and local storage, the zero config's defaults there),
// uploads a photo it draws itself and prints what a program would look at.

// examplePipeline opens a pipeline with its data in a fresh temporary
// directory; close removes it.
func examplePipeline() (p *ximagepipeline.Pipeline, close func()) {
	dir, err := os.MkdirTemp("", "ximagepipeline-example")
	if err != nil {
		log.Fatal(err)
	}
	p, err = ximagepipeline.New(context.Background(), ximagepipeline.Config{
		DataDir: dir,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	return p, func() {
		p.Close(context.Background())
		os.RemoveAll(dir)
	}
}

// photo is a 640x480 JPEG: a gradient, as a camera might send.
func photo() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 480), 128, 255})
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	return b.Bytes()
}

// waitDone waits for a job to finish, as a client long-polls its status.
func waitDone(p *ximagepipeline.Pipeline, jobID string) *ximagepipeline.Job {
	for {
		job, err := p.WaitStatus(context.Background(), jobID, 30*time.Second)
		if err != nil {
			log.Fatal(err)
		}
		if job.Status.Final() {
			return job
		}
	}
}

// New opens a pipeline with the defaults: a SQLite database and local
// storage under DataDir, workers in this process.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "ximagepipeline-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	p, err := ximagepipeline.New(ctx, ximagepipeline.Config{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	fmt.Println(p.VariantPresets()["avatar"], p.SourceTypes()["avatar"].Quality, p.Variants()["sm"])
	// Output: [xs sm] 80 {150 150 cover}
}

// Handler serves the HTTP API; mount it under the prefix in any server.
func ExamplePipeline_Handler() {
	p, done := examplePipeline()
	defer done()
	mux := http.NewServeMux()
	mux.Handle("/image-pipeline/", p.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	form.WriteField("sourceType", "avatar")
	form.WriteField("sourceId", "user-42")
	file, _ := form.CreateFormFile("file", "me.jpg")
	file.Write(photo())
	form.Close()
	resp, err := http.Post(srv.URL+"/image-pipeline/upload", form.FormDataContentType(), &body)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, bytes.Contains(answer, []byte(`"message":"File uploaded. Processing started."`)))
	// Output: 202 true
}

// Upload stages and queues an image; the job id comes back at once.
func ExamplePipeline_Upload() {
	p, done := examplePipeline()
	defer done()
	ctx := context.Background()
	jobID, err := p.Upload(ctx, ximagepipeline.UploadRequest{
		SourceType: "gallery", SourceID: "album-7", File: bytes.NewReader(photo()),
	})
	if err != nil {
		log.Fatal(err)
	}
	job := waitDone(p, jobID)
	m := job.Media
	fmt.Println(job.Status, m.Width, m.Height, m.AspectRatio, m.Format)
	fmt.Println(m.Variants["md"].Width, m.Variants["md"].Height, m.Variants["md"].Format)

	// A refusal is an *Error with the contract's message and code.
	_, err = p.Upload(ctx, ximagepipeline.UploadRequest{
		SourceType: "gallery", SourceID: "album-7", File: bytes.NewReader([]byte("just text")),
	})
	var refusal *ximagepipeline.Error
	if errors.As(err, &refusal) {
		fmt.Println(refusal.Status, refusal.Code, refusal.Message)
	}
	// Output:
	// COMPLETE 640 480 4:3 jpeg
	// 400 300 webp
	// 400 FILE_TYPE_NOT_ALLOWED File type text/plain not allowed
}

// GetStatus answers a job's state: PENDING or PROCESSING, then COMPLETE
// with its media, REJECTED or FAILED with why.
func ExamplePipeline_GetStatus() {
	p, done := examplePipeline()
	defer done()
	ctx := context.Background()
	jobID, err := p.Upload(ctx, ximagepipeline.UploadRequest{SourceType: "avatar", SourceID: "user-42", File: bytes.NewReader(photo())})
	if err != nil {
		log.Fatal(err)
	}
	waitDone(p, jobID)
	job, err := p.GetStatus(ctx, jobID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status, job.Attempts, slices.Sorted(maps.Keys(job.Media.Variants)))

	// A broken image fails at once, with a code.
	jobID, _ = p.Upload(ctx, ximagepipeline.UploadRequest{SourceType: "avatar", SourceID: "user-42", File: bytes.NewReader(photo()[:2000])})
	job = waitDone(p, jobID)
	fmt.Println(job.Status, job.Code, job.Attempts)

	_, err = p.GetStatus(ctx, "job_unknown")
	fmt.Println(err)
	// Output:
	// COMPLETE 1 [sm xs]
	// FAILED UNDECODABLE 1
	// Job not found
}

// ListMedia lists an owner's media, newest first.
func ExamplePipeline_ListMedia() {
	p, done := examplePipeline()
	defer done()
	ctx := context.Background()
	for range 2 {
		jobID, err := p.Upload(ctx, ximagepipeline.UploadRequest{SourceType: "gallery", SourceID: "album-7", File: bytes.NewReader(photo())})
		if err != nil {
			log.Fatal(err)
		}
		waitDone(p, jobID)
	}
	list, err := p.ListMedia(ctx, "gallery", "album-7")
	if err != nil {
		log.Fatal(err)
	}
	other, _ := p.ListMedia(ctx, "gallery", "album-8")
	fmt.Println(len(list), list[0].CreatedAt.After(list[1].CreatedAt) || list[0].CreatedAt.Equal(list[1].CreatedAt), len(other))
	// Output: 2 true 0
}

// DeleteMedia removes a media's files and its record; its job keeps its
// history.
func ExamplePipeline_DeleteMedia() {
	p, done := examplePipeline()
	defer done()
	ctx := context.Background()
	jobID, err := p.Upload(ctx, ximagepipeline.UploadRequest{SourceType: "avatar", SourceID: "user-42", File: bytes.NewReader(photo())})
	if err != nil {
		log.Fatal(err)
	}
	mediaID := waitDone(p, jobID).Media.ID
	fmt.Println(p.DeleteMedia(ctx, mediaID))
	_, err = p.GetMedia(ctx, mediaID)
	fmt.Println(err)
	job, _ := p.GetStatus(ctx, jobID)
	fmt.Println(job.Status, job.Media == nil)
	// Output:
	// <nil>
	// Media not found
	// COMPLETE true
}
