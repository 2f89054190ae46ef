package ximagepipeline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/fetch"
	"github.com/ximagepipeline/ximagepipeline/internal/imagefile"
	"github.com/ximagepipeline/ximagepipeline/internal/jobs"
	"github.com/ximagepipeline/ximagepipeline/internal/store"
	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/uploadtoken"
)

// UploadRequest is one image to process: a File, or a URL to fetch it
// from.
type UploadRequest struct {
	// SourceType and SourceID say what the image is for and who owns it.
	// With a Token they may be left empty (the token's are taken); if
	// given, they must be the token's.
	SourceType string
	SourceID   string
	// File is read once, streamed to staging; it is never held in memory whole.
	File io.Reader
	// URL, instead of File, is fetched (unless Config.DisableURLIngest)
	// with the limits of Config's Fetch* fields, from public addresses
	// only (or those Config.FetchAllow lists), once the fields are
	// checked; its bytes are then checked as a file's.
	URL string
	// Token is an upload token (MintUploadToken) the upload is made with,
	// as a browser does with "Authorization: Bearer xut_...": its owner,
	// its size cap and single use apply. Empty: no token, the caller
	// vouches for the upload.
	Token string
}

// Upload validates and stages an image and queues its processing. It returns
// the job id at once; refusals are *Error values with the contract's message
// and code, checked in the contract's order. It takes the same way in as
// the HTTP upload (admit).
func (p *Pipeline) Upload(ctx context.Context, req UploadRequest) (jobID string, err error) {
	ctx, done := p.traceUpload(ctx)
	defer func() { done(jobID, err) }()
	g, err := p.uploadGrant(ctx, req.Token)
	if err != nil {
		return "", err
	}
	return p.admit(ctx, requestForm(req), g)
}

// form is an upload's parts in the order they arrive: a multipart body, or
// an UploadRequest's fields then its file. next returns io.EOF after the
// last part; any other error is the body's.
type form interface {
	next() (name string, r io.Reader, err error)
}

// requestForm is an UploadRequest as a form: its fields, then its file.
func requestForm(req UploadRequest) form {
	parts := []formPart{{"sourceType", strings.NewReader(req.SourceType)}, {"sourceId", strings.NewReader(req.SourceID)}}
	if req.File != nil {
		parts = append(parts, formPart{"file", req.File})
	}
	if req.URL != "" {
		parts = append(parts, formPart{"url", strings.NewReader(req.URL)})
	}
	return &partList{parts: parts}
}

type formPart struct {
	name string
	r    io.Reader
}

type partList struct{ parts []formPart }

func (l *partList) next() (string, io.Reader, error) {
	if len(l.parts) == 0 {
		return "", nil, io.EOF
	}
	p := l.parts[0]
	l.parts = l.parts[1:]
	return p.name, p.r, nil
}

// multipartForm reads a multipart/form-data body part by part.
type multipartForm struct{ mr *multipart.Reader }

func (f multipartForm) next() (string, io.Reader, error) {
	part, err := f.mr.NextPart() // closes the previous part
	if err != nil {
		return "", nil, err
	}
	return part.FormName(), part, nil
}

// admit is the one way in for an upload, whatever brought it (a multipart
// body, an UploadRequest, a direct upload's complete step): it reads the
// form part by part, streaming the file to staging as it arrives (fields
// may come before or after it), checks everything in the contract's order
// (file or url present, fields present, sourceType known, sourceId valid;
// a url is fetched only then; type, size, pixels), then records the job
// with its queue entry. g is the upload's verified token, nil without one:
// its owner fills in the fields, its size cap bounds the file, its id is
// spent with the job, and a direct upload's token brings its reserved job
// id. On a refusal nothing stays staged.
func (p *Pipeline) admit(ctx context.Context, f form, g *uploadtoken.Claims) (string, error) {
	var (
		sourceType, sourceID string
		rawURL               string
		jobID                string // set once the file is staged
		gotType, gotID       bool
		gotFile              bool // a file part with bytes
	)
	limit := p.cfg.MaxFileSize
	newJobID := func() string { return newID("job_") }
	stagedKey := p.layout.Staged
	if g != nil {
		if g.MaxFileSize > 0 {
			limit = min(limit, g.MaxFileSize)
		}
		if g.JobID != "" {
			// A direct upload: its reserved job, staged under a key of this
			// attempt's own, so that a complete racing it on another
			// server never writes over the file of the one that commits.
			newJobID = func() string { return g.JobID }
			nonce := strings.ToLower(rand.Text()[:10])
			stagedKey = func(jobID string) string { return p.layout.StagedCopy(jobID, nonce) }
		}
	}
	fail := func(err error) (string, error) {
		if jobID != "" {
			p.discard(stagedKey(jobID))
		}
		return "", err
	}
	for {
		name, r, err := f.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if jobID == "" && rawURL == "" && errors.Is(err, io.EOF) {
				return fail(ErrNoFile) // the body ended (an empty one, say) before any file
			}
			return fail(readError(err, limit))
		}
		switch name {
		case "sourceType":
			sourceType, gotType = readField(r), true
		case "sourceId":
			sourceID, gotID = readField(r), true
		case "url":
			b, _ := io.ReadAll(io.LimitReader(r, fetch.MaxURLLen+1)) // longer is refused as a bad URL
			rawURL = strings.TrimSpace(string(b))
		case "file":
			if gotFile {
				break // one file per upload: later ones are ignored
			}
			// An empty file is no file, which ranks before the fields.
			file := bufio.NewReaderSize(r, sniffLen)
			if _, err := file.Peek(1); errors.Is(err, io.EOF) {
				break
			}
			gotFile = true
			if rawURL != "" {
				break // a file and a url: refused below
			}
			// With both fields known, refuse before reading the file.
			if gotType && gotID {
				if err := p.checkFields(g, &sourceType, &sourceID); err != nil {
					return fail(err)
				}
			}
			id := newJobID()
			if err := p.stage(ctx, stagedKey(id), file, limit); err != nil {
				// A refusal about the file ranks after the fields'; those
				// may still come, so finish reading the form first.
				if !gotType || !gotID {
					if ferr := fieldsAfter(f, &sourceType, &sourceID); ferr == nil {
						if ferr := p.checkFields(g, &sourceType, &sourceID); ferr != nil {
							err = ferr
						}
					}
				}
				return fail(err)
			}
			jobID = id
		}
	}
	switch {
	case gotFile && rawURL != "":
		return fail(failure.BadRequest("Send either a file or a url, not both"))
	case !gotFile && rawURL == "":
		return fail(ErrNoFile)
	case !gotFile && p.cfg.DisableURLIngest:
		return fail(ErrURLIngestDisabled)
	case !gotFile && g != nil:
		// A token is handed to a browser for one upload of its own file;
		// with a url, every refused fetch would leave it good for another,
		// making it a free outbound request to anywhere until it expires.
		return fail(ErrURLIngestDisabled.With("Uploads with an upload token send a file, not a url", nil))
	}
	if err := p.checkFields(g, &sourceType, &sourceID); err != nil {
		return fail(err)
	}
	if !gotFile {
		// Fetched only now, for an upload whose fields passed.
		id := newJobID()
		if err := p.stageURL(ctx, stagedKey(id), rawURL, limit); err != nil {
			return fail(err)
		}
		jobID = id
	}
	if err := p.enqueue(ctx, jobID, stagedKey(jobID), sourceType, sourceID, g); err != nil {
		return "", err // enqueue removed the staged file
	}
	return jobID, nil
}

// fieldsAfter reads the rest of a form for its fields after a refused
// file, within the body limit, so that refusals keep the contract's order.
func fieldsAfter(f form, sourceType, sourceID *string) error {
	for {
		name, r, err := f.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch name {
		case "sourceType":
			*sourceType = readField(r)
		case "sourceId":
			*sourceID = readField(r)
		}
	}
}

// readField reads a short form value; longer ones are cut, which makes them
// invalid rather than expensive.
func readField(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1024))
	return string(b)
}

// checkFields checks the form fields, in the contract's order. With an
// upload token (g), a field left empty is the token's, and one given must
// be the token's (TOKEN_MISMATCH).
func (p *Pipeline) checkFields(g *uploadtoken.Claims, sourceType, sourceID *string) error {
	if g != nil {
		if (*sourceType != "" && *sourceType != g.SourceType) || (*sourceID != "" && *sourceID != g.SourceID) {
			return failure.TokenOwnerMismatch(g.SourceType, g.SourceID)
		}
		*sourceType, *sourceID = g.SourceType, g.SourceID
	}
	return p.checkOwner(*sourceType, *sourceID)
}

// checkOwner checks a sourceType and sourceId, in the contract's order.
func (p *Pipeline) checkOwner(sourceType, sourceID string) error {
	if sourceType == "" || sourceID == "" {
		return ErrMissingFields
	}
	if _, ok := p.cfg.SourceTypes[sourceType]; !ok {
		return failure.UnknownSourceType(sourceType)
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

// stage streams the upload to its staging key, checking its type from its
// first bytes, its size (at most limit bytes) while streaming and its pixel
// count from its header, before anything is decoded. On a refusal nothing
// stays staged.
func (p *Pipeline) stage(ctx context.Context, key string, r io.Reader, limit int64) error {
	first := make([]byte, sniffLen)
	n, err := io.ReadFull(r, first)
	first = first[:n]
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return readError(err, limit)
	}
	if n == 0 {
		return ErrNoFile // an empty file is no file
	}
	mime := imagefile.Sniff(first)
	if !slices.Contains(p.cfg.AllowedTypes, mime) {
		return failure.FileType(mime)
	}

	// The header is read from the stream itself, keeping what it consumed
	// so that staging still gets every byte.
	var consumed bytes.Buffer
	hdr, herr := imagefile.ReadHeader(io.MultiReader(bytes.NewReader(first), io.TeeReader(io.LimitReader(r, headerLimit), &consumed)))
	body := io.MultiReader(bytes.NewReader(first), &consumed, r)
	if herr == nil && pixels(hdr) > p.cfg.MaxPixels {
		// Size is checked before pixels: count the rest without keeping it.
		total, err := io.Copy(io.Discard, io.LimitReader(body, limit+1))
		if err != nil {
			return readError(err, limit)
		}
		if total > limit {
			return failure.FileTooLarge(limit)
		}
		return failure.ImageTooLarge(p.cfg.MaxPixels)
	}
	// A header that cannot be read is left to the worker, which refuses an
	// image over the pixel limit before decoding, and fails an undecodable
	// file clearly.

	lr := &limitReader{r: body, left: limit}
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
		return failure.FileTooLarge(limit)
	case lr.err != nil:
		return readError(lr.err, limit)
	}
	if err := p.storage.Put(ctx, key, src, size, mime); err != nil {
		switch {
		case lr.tooLarge:
			return failure.FileTooLarge(limit)
		case lr.err != nil:
			return readError(lr.err, limit)
		}
		return ErrStorage.With("", err)
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

// enqueue records the job and queues it, with its upload token (g) spent,
// committed before it returns; on failure the staged file is removed. A
// token used meanwhile by another upload refuses this one (TOKEN_USED),
// unless it is a direct upload's: then the job is this very one, completed
// by another request, and the staged file is its.
func (p *Pipeline) enqueue(ctx context.Context, jobID, key, sourceType, sourceID string, g *uploadtoken.Claims) error {
	job := store.Job{ID: jobID, SourceType: sourceType, SourceID: sourceID, StagedKey: key, CreatedAt: time.Now()}
	if g != nil {
		job.TokenID, job.TokenExpires = g.ID, g.ExpiresAt
	}
	err := p.commits.commit(ctx, job)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jobs.ErrTokenUsed):
		p.discard(key) // this attempt's own: the job that committed has its own key
		return ErrTokenUsed
	}
	p.discard(key)
	return ErrQueue.With("", err)
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

// readError maps a failure to read the client's body (or the body of its
// url, whose reader already returns *Error values).
func readError(err error, maxFileSize int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return failure.FileTooLarge(maxFileSize)
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrBadUpload.With("", err)
}
