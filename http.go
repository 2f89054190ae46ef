package ximagepipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ximagepipeline/ximagepipeline/failure"
)

// route is one of Handler's routes. The table below is the one place they
// are listed: Handler registers it, and a test holds the OpenAPI document
// (openapi.json) to it.
type route struct {
	method string
	path   string // after the prefix, with net/http's wildcards
	handle func(p *Pipeline, w http.ResponseWriter, r *http.Request)
	// localFiles: only with the default local storage, which the
	// pipeline serves itself.
	localFiles bool
}

var routes = []route{
	{method: "POST", path: "/upload", handle: (*Pipeline).handleUpload},
	{method: "POST", path: "/upload-tokens", handle: (*Pipeline).handleMintToken},
	{method: "POST", path: "/uploads/{jobId}/complete", handle: (*Pipeline).handleComplete},
	{method: "GET", path: "/status/{jobId}", handle: (*Pipeline).handleStatus},
	{method: "GET", path: "/events/{jobId}", handle: (*Pipeline).handleEvents},
	{method: "GET", path: "/media", handle: (*Pipeline).handleListMedia},
	{method: "GET", path: "/media/{mediaId}", handle: (*Pipeline).handleGetMedia},
	{method: "DELETE", path: "/media/{mediaId}", handle: (*Pipeline).handleDeleteMedia},
	{method: "GET", path: "/config", handle: (*Pipeline).handleConfig},
	{method: "GET", path: "/openapi.json", handle: (*Pipeline).handleOpenAPI},
	{method: "GET", path: "/files/{key...}", handle: (*Pipeline).handleFiles, localFiles: true},
}

// Handler serves the contract's HTTP API under cfg.Prefix, and the stored
// files under {Prefix}/files/ when storage is the default local directory.
// Mount it as mux.Handle(prefix+"/", p.Handler()).
//
// The host guards the routes (API keys, CORS...), but lets requests that
// carry an upload token ("Authorization: Bearer xut_...") through to the
// upload, complete, status and events routes: the pipeline verifies those
// itself.
func (p *Pipeline) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		if rt.localFiles && p.local == nil {
			continue
		}
		handle := rt.handle
		mux.HandleFunc(rt.method+" "+p.cfg.Prefix+rt.path, func(w http.ResponseWriter, r *http.Request) { handle(p, w, r) })
	}
	return p.withRequestLog(mux)
}

// handleFiles serves the stored variants and originals of the default
// local storage; staged uploads are never served.
func (p *Pipeline) handleFiles(w http.ResponseWriter, r *http.Request) {
	p.files.ServeHTTP(w, r)
}

// handleUpload answers an upload: 202 with the job id, or the refusal.
func (p *Pipeline) handleUpload(w http.ResponseWriter, r *http.Request) {
	ctx, done := p.traceUpload(r.Context())
	r = r.WithContext(ctx)
	body := &countingReader{r: r.Body}
	r.Body = http.MaxBytesReader(w, body, p.cfg.MaxFileSize+1<<20) // room for fields and framing
	jobID, busy, err := p.inUploadSlot(func() (string, error) { return p.readUpload(w, r) })
	done(jobID, err)
	if busy {
		writeBusy(w) // the body is left unread and the connection closed
		return
	}
	if err != nil {
		p.refuseUpload(w, r, err, body.n > 0)
		return
	}
	p.accepted(w, r, jobID)
}

// accepted answers an upload that was queued.
func (p *Pipeline) accepted(w http.ResponseWriter, r *http.Request, jobID string) {
	p.cfg.Logger.Info("upload accepted", "request_id", RequestID(r.Context()), "job_id", jobID)
	writeJSON(w, http.StatusAccepted, map[string]string{
		"jobId":     jobID,
		"message":   "File uploaded. Processing started.",
		"statusUrl": p.cfg.Prefix + "/status/" + jobID,
	})
}

// handleComplete admits a direct upload whose file its client has PUT to
// the bucket (CompleteUpload): 202 as an upload, or its refusal.
func (p *Pipeline) handleComplete(w http.ResponseWriter, r *http.Request) {
	jobID, busy, err := p.inUploadSlot(func() (string, error) {
		return p.CompleteUpload(r.Context(), r.PathValue("jobId"), bearerUploadToken(r))
	})
	if busy {
		writeBusy(w)
		return
	}
	if err != nil {
		p.fail(w, r, err, ErrBadUpload)
		return
	}
	p.accepted(w, r, jobID)
}

// maxTokenRequest bounds the JSON body of a token request.
const maxTokenRequest = 64 << 10

// handleMintToken answers POST {prefix}/upload-tokens (MintUploadToken)
// with 201 and the token.
func (p *Pipeline) handleMintToken(w http.ResponseWriter, r *http.Request) {
	if p.cfg.UploadTokenSecret == "" {
		writeError(w, ErrTokensDisabled)
		return
	}
	var body struct {
		SourceType  string `json:"sourceType"`
		SourceID    string `json:"sourceId"`
		MaxFileSize int64  `json:"maxFileSize"`
		ExpiresIn   int64  `json:"expiresIn"` // seconds
		Direct      bool   `json:"direct"`
		Size        int64  `json:"size"`
		ContentType string `json:"contentType"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	dec.DisallowUnknownFields() // a misspelt field must not pass unnoticed
	if err := dec.Decode(&body); err != nil || dec.More() {
		writeError(w, failure.BadRequest("The body must be one JSON object: {sourceType, sourceId, maxFileSize?, expiresIn?, direct?, size?, contentType?}"))
		return
	}
	expiresIn := time.Duration(body.ExpiresIn) * time.Second
	if body.ExpiresIn < 0 || body.ExpiresIn > int64(p.cfg.UploadTokenMaxLifetime/time.Second) {
		expiresIn = -1 // out of range, whatever the overflow: refused as such
	}
	tok, err := p.MintUploadToken(r.Context(), UploadTokenRequest{
		SourceType: body.SourceType, SourceID: body.SourceID, MaxFileSize: body.MaxFileSize, ExpiresIn: expiresIn,
		Direct: body.Direct, Size: body.Size, ContentType: body.ContentType,
	})
	if err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	writeJSON(w, http.StatusCreated, tok)
}

// inUploadSlot runs an upload's admission in one of a bounded number of
// slots: past that the client is told to come back (busy) rather than the
// server running out of memory or file handles.
func (p *Pipeline) inUploadSlot(admit func() (string, error)) (jobID string, busy bool, err error) {
	select {
	case p.uploadSlots <- struct{}{}:
		defer func() { <-p.uploadSlots }()
	default:
		return "", true, ErrBusy
	}
	jobID, err = admit()
	return jobID, false, err
}

// writeBusy tells a client past the upload slots to come back in a second.
func writeBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, ErrBusy)
}

// drainTime bounds how long a refused upload's body is read after the
// answer (refuseUpload).
const drainTime = 30 * time.Second

// refuseUpload answers a refused upload, then, if the client has started
// sending its body, reads the rest of it: up to the body limit, for at most
// drainTime, outside the upload slots, and no longer once the server stops
// (EndWaits). Most clients send the whole body before they read the
// answer: closing the connection while they still send resets it, and they
// lose the answer. The answer goes first, so that a client that reads while
// it sends can stop early. A client that has sent nothing may be waiting
// for "100 Continue", which a refusal never sends: its body never comes.
func (p *Pipeline) refuseUpload(w http.ResponseWriter, r *http.Request, err error, sending bool) {
	rc := http.NewResponseController(w)
	full := sending && rc.EnableFullDuplex() == nil // read the body after the answer is written
	p.fail(w, r, err, ErrBadUpload)
	if !full {
		return
	}
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(drainTime))
	var wg sync.WaitGroup
	drained := make(chan struct{})
	defer wg.Wait() // the controller must not be used once the handler returns
	defer close(drained)
	stopping := p.waiters.done()
	wg.Go(func() {
		select {
		case <-stopping:
			_ = rc.SetReadDeadline(time.Now()) // ends the read below
		case <-drained:
		}
	})
	_, _ = io.Copy(io.Discard, r.Body)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// readUpload admits a multipart upload, made with the upload token of its
// Authorization header if it has one.
func (p *Pipeline) readUpload(w http.ResponseWriter, r *http.Request) (string, error) {
	g, err := p.uploadGrant(r.Context(), bearerUploadToken(r))
	if err != nil {
		return "", err
	}
	if g != nil {
		// A token is a stranger's browser: one upload at a time, within
		// the token's life and a grace for the last one to arrive, so that
		// a dripping body cannot hold upload slots past its token.
		release, ok := p.tokenUploads.take(g.ID)
		if !ok {
			return "", ErrTokenInUse
		}
		defer release()
		_ = http.NewResponseController(w).SetReadDeadline(g.ExpiresAt.Add(tokenUploadGrace))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", ErrNoFile
	}
	return p.admit(r.Context(), multipartForm{mr}, g)
}

// maxWait bounds a long poll, below the usual proxy timeouts.
const maxWait = 60 * time.Second

// handleStatus answers a job's status; with ?wait=30s it first waits up
// to that long for a job still PENDING or PROCESSING to finish.
func (p *Pipeline) handleStatus(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, failure.ErrBadWait)
			return
		}
		wait = min(d, maxWait)
	}
	if err := p.checkTokenForJob(r.Context(), r, r.PathValue("jobId")); err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	job, err := p.WaitStatus(r.Context(), r.PathValue("jobId"), wait)
	if job != nil && r.Context().Err() != nil {
		err = nil // the request's context ended (a host stopping): answer what is known
	}
	if err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	writeStatus(w, job)
}

// writeStatus answers with the status code and fields of the job's state.
func writeStatus(w http.ResponseWriter, job *Job) {
	code := http.StatusAccepted
	switch job.Status {
	case StatusComplete:
		code = http.StatusOK
	case StatusRejected:
		code = http.StatusBadRequest
	case StatusFailed:
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, statusBody(job))
}

// statusBody is the contract's status response: the fields of the state.
func statusBody(job *Job) map[string]any {
	body := map[string]any{"jobId": job.ID, "status": job.Status}
	switch job.Status {
	case StatusComplete:
		body["media"] = job.Media
	case StatusRejected:
		body["reason"] = job.Reason
		body["moderationDetails"] = job.ModerationDetails
	case StatusFailed:
		body["error"] = job.Error
		body["code"] = job.Code
		body["attempts"] = job.Attempts
	}
	return body
}

// handleEvents streams a job's status as Server-Sent Events: one "status"
// event now, one at each change, and the stream ends after a final one.
func (p *Pipeline) handleEvents(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("jobId")
	if err := p.checkTokenForJob(r.Context(), r, jobID); err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	job, err := p.GetStatus(r.Context(), jobID)
	if err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(frame string) bool {
		if _, err := io.WriteString(w, frame); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for {
		b, _ := json.Marshal(statusBody(job))
		if !send(fmt.Sprintf("event: status\ndata: %s\n\n", b)) || job.Status.Final() {
			return
		}
		// Wait for a change; a comment every 15 s of quiet keeps proxies
		// from closing the stream.
		next := job
		for next.Status == job.Status {
			next, err = p.waitChange(r.Context(), jobID, job.Status, 15*time.Second)
			if err != nil {
				return // the client left, or the server is stopping
			}
			if next.Status == job.Status && !send(": keep-alive\n\n") {
				return
			}
		}
		job = next
	}
}

func (p *Pipeline) handleGetMedia(w http.ResponseWriter, r *http.Request) {
	m, err := p.GetMedia(r.Context(), r.PathValue("mediaId"))
	if err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (p *Pipeline) handleListMedia(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("similarTo"); id != "" {
		list, err := p.SimilarTo(r.Context(), id)
		if err != nil {
			p.fail(w, r, err, failure.ErrInternal)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"media": list})
		return
	}
	sourceType, sourceID := r.URL.Query().Get("sourceType"), r.URL.Query().Get("sourceId")
	if sourceType == "" || sourceID == "" {
		writeError(w, ErrMissingFields)
		return
	}
	list, err := p.ListMedia(r.Context(), sourceType, sourceID)
	if err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"media": list})
}

func (p *Pipeline) handleDeleteMedia(w http.ResponseWriter, r *http.Request) {
	if err := p.DeleteMedia(r.Context(), r.PathValue("mediaId")); err != nil {
		p.fail(w, r, err, failure.ErrInternal)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *Pipeline) handleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"sourceTypes":    p.SourceTypes(),
		"variants":       p.Variants(),
		"variantPresets": p.VariantPresets(),
	})
}

// fail answers with err as a client-safe error, logging what is not the
// client's fault.
func (p *Pipeline) fail(w http.ResponseWriter, r *http.Request, err error, fallback *Error) {
	e := failure.As(err, fallback)
	if e.Status >= 500 {
		p.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", e)
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *Error) { failure.Write(w, e) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	// An error here means the client is gone: there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}
