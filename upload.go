package ximagepipeline

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/media"
)

// UploadRequest is one image to process.
type UploadRequest struct {
	SourceType string
	SourceID   string
	// File is read once, streamed to staging; it is never held in memory whole.
	File io.Reader
}

// Upload validates and stages an image and queues its processing. It returns
// the job id at once; refusals are *Error values with the contract's message
// and code, checked in the contract's order.
func (p *Pipeline) Upload(ctx context.Context, req UploadRequest) (jobID string, err error) {
	ctx, done := p.traceUpload(ctx)
	defer func() { done(jobID, err) }()
	if req.File == nil {
		return "", ErrNoFile
	}
	// An empty file is no file, which ranks before the fields.
	file := bufio.NewReaderSize(req.File, sniffLen)
	if _, err := file.Peek(1); errors.Is(err, io.EOF) {
		return "", ErrNoFile
	}
	if err := p.checkFields(req.SourceType, req.SourceID); err != nil {
		return "", err
	}
	jobID = newID("job_")
	if err := p.stage(ctx, jobID, file); err != nil {
		return "", err
	}
	if err := p.enqueue(ctx, jobID, req.SourceType, req.SourceID); err != nil {
		return "", err
	}
	return jobID, nil
}

// checkFields checks the form fields, in the contract's order.
func (p *Pipeline) checkFields(sourceType, sourceID string) error {
	if sourceType == "" || sourceID == "" {
		return ErrMissingFields
	}
	if _, ok := p.cfg.SourceTypes[sourceType]; !ok {
		return errUnknownSourceType(sourceType)
	}
	if !media.ValidName(sourceID) {
		return ErrInvalidSourceID
	}
	return nil
}

// sniffLen is how much of the upload decides its type.
const sniffLen = 512

// headerLimit bounds what an upload may hold in memory to find its
// dimensions: real headers fit in a few KB. A header further in (a JPEG
// behind huge metadata) is left to the worker, which checks the pixel
// count again before decoding.
const headerLimit = 256 << 10

// stage streams the upload to {staging}/{jobID}, checking its type from its
// first bytes, its size while streaming and its pixel count from its header,
// before anything is decoded. On a refusal nothing stays staged.
func (p *Pipeline) stage(ctx context.Context, jobID string, r io.Reader) error {
	first := make([]byte, sniffLen)
	n, err := io.ReadFull(r, first)
	first = first[:n]
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return readError(err, p.cfg.MaxFileSize)
	}
	if n == 0 {
		return ErrNoFile // an empty file is no file
	}
	mime := imagefile.Sniff(first)
	if !slices.Contains(p.cfg.AllowedTypes, mime) {
		return errFileType(mime)
	}

	// The header is read from the stream itself, keeping what it consumed
	// so that staging still gets every byte.
	var consumed bytes.Buffer
	hdr, herr := imagefile.ReadHeader(io.MultiReader(bytes.NewReader(first), io.TeeReader(io.LimitReader(r, headerLimit), &consumed)))
	body := io.MultiReader(bytes.NewReader(first), &consumed, r)
	if herr == nil && pixels(hdr) > p.cfg.MaxPixels {
		// Size is checked before pixels: count the rest without keeping it.
		total, err := io.Copy(io.Discard, io.LimitReader(body, p.cfg.MaxFileSize+1))
		if err != nil {
			return readError(err, p.cfg.MaxFileSize)
		}
		if total > p.cfg.MaxFileSize {
			return errFileTooLarge(p.cfg.MaxFileSize)
		}
		return errImageTooLarge(p.cfg.MaxPixels)
	}
	// A header that cannot be read is left to the worker, which refuses an
	// image over the pixel limit before decoding, and fails an undecodable
	// file clearly.

	lr := &limitReader{r: body, left: p.cfg.MaxFileSize}
	// Most uploads are small: read up to smallUpload first so that they go
	// to storage with a known size (one PUT on S3, where an unknown size
	// means a multipart upload and a part-sized buffer per upload).
	buf := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(buf)
	n, rerr := io.ReadFull(lr, *buf)
	src, size := io.Reader(bytes.NewReader((*buf)[:n])), int64(n)
	switch {
	case rerr == nil: // more to come: stream the rest
		src, size = io.MultiReader(src, lr), -1
	case lr.tooLarge:
		return errFileTooLarge(p.cfg.MaxFileSize)
	case lr.err != nil:
		return readError(lr.err, p.cfg.MaxFileSize)
	}
	key := p.layout.Staged(jobID)
	if err := p.storage.Put(ctx, key, src, size, mime); err != nil {
		switch {
		case lr.tooLarge:
			return errFileTooLarge(p.cfg.MaxFileSize)
		case lr.err != nil:
			return readError(lr.err, p.cfg.MaxFileSize)
		}
		return refuse(ErrStorage, "", err)
	}
	return nil
}

// smallUpload is the size below which an upload is staged from memory with
// its size known; smallBufs recycles those buffers.
const smallUpload = 512 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallUpload); return &b }}

func pixels(h imagefile.Header) int64 {
	return int64(h.Width) * int64(h.Height) * int64(max(h.Frames, 1))
}

// enqueue records the job and queues it, committed before it returns; on
// failure the staged file is removed.
func (p *Pipeline) enqueue(ctx context.Context, jobID, sourceType, sourceID string) error {
	key := p.layout.Staged(jobID)
	job := store.Job{ID: jobID, SourceType: sourceType, SourceID: sourceID, StagedKey: key, CreatedAt: time.Now()}
	if err := p.commits.commit(ctx, job); err != nil {
		p.discard(key)
		return refuse(ErrQueue, "", err)
	}
	return nil
}

// groupCommit records jobs the way databases commit their logs: uploads that
// arrive while a transaction is being committed wait for it, then go in the
// next one together. Alone, a job commits at once; under load, one
// transaction and two statements carry many jobs, which is what lets a
// single SQLite writer keep up (docs/decisions.md).
type groupCommit struct {
	insert func(ctx context.Context, jobs []store.Job) error

	mu      sync.Mutex // guards pending
	pending []*pendingJob
	leader  sync.Mutex // held by the request committing a batch
}

type pendingJob struct {
	job  store.Job
	done chan error // buffered: the committer never blocks on it
}

// maxBatch bounds a transaction: 256 jobs are 1,536 placeholders in the job
// insert, far from SQLite's and PostgreSQL's limits.
const maxBatch = 256

// commit returns once job is committed, by this call or by another one that
// took it along.
func (g *groupCommit) commit(ctx context.Context, job store.Job) error {
	me := &pendingJob{job: job, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, me)
	g.mu.Unlock()

	g.leader.Lock()
	defer g.leader.Unlock()
	// Commit batches, oldest jobs first, until this one's is done: with
	// more than maxBatch waiting, it may not be in the first.
	for {
		select {
		case err := <-me.done: // committed by a previous leader, or just now
			return err
		default:
		}
		g.mu.Lock()
		n := min(len(g.pending), maxBatch)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		// The others in the batch depend on this commit: it must not stop
		// because this request's client went away.
		g.run(context.WithoutCancel(ctx), batch)
	}
}

// run commits a batch and tells each job how it went. If the batch fails,
// each job is tried alone, so that one bad job cannot refuse the others.
func (g *groupCommit) run(ctx context.Context, batch []*pendingJob) {
	jobs := make([]store.Job, len(batch))
	for i, b := range batch {
		jobs[i] = b.job
	}
	if err := g.insert(ctx, jobs); err == nil || len(batch) == 1 {
		for _, b := range batch {
			b.done <- err
		}
		return
	}
	for _, b := range batch {
		b.done <- g.insert(ctx, []store.Job{b.job})
	}
}

// insertJobs records jobs and queues them in one transaction.
func (p *Pipeline) insertJobs(ctx context.Context, jobs []store.Job) error {
	return p.store.InTx(ctx, func(tx *sql.Tx) error {
		ids := make([]string, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		qids, err := p.queue.EnqueueTx(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range jobs {
			jobs[i].QueueJobID = qids[i]
		}
		return p.store.InsertJobs(ctx, tx, jobs)
	})
}

// discard removes a staged upload that will not be processed. It must
// work even when the request's context is gone.
func (p *Pipeline) discard(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.storage.Delete(ctx, key); err != nil {
		p.cfg.Logger.Warn("could not remove staged upload; cleanup will", "key", key, "err", err)
	}
}

// limitReader passes at most left bytes and remembers why it stopped.
type limitReader struct {
	r        io.Reader
	left     int64
	tooLarge bool
	err      error // the source's read error, if any
}

var errTooLarge = errors.New("upload exceeds the maximum file size")

func (l *limitReader) Read(b []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(b)) > l.left+1 {
		b = b[:l.left+1]
	}
	n, err := l.r.Read(b)
	l.left -= int64(n)
	if l.left < 0 {
		l.tooLarge = true
		return n, errTooLarge
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// readError maps a failure to read the client's body.
func readError(err error, maxFileSize int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errFileTooLarge(maxFileSize)
	}
	return refuse(ErrBadUpload, "", err)
}
