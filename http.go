package ximagepipeline

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
)

// Handler serves the contract's HTTP API under cfg.Prefix, and the stored
// files under {Prefix}/files/ when storage is the default local directory.
// Mount it as mux.Handle(prefix+"/", p.Handler()).
func (p *Pipeline) Handler() http.Handler {
	mux := http.NewServeMux()
	pre := p.cfg.Prefix
	mux.HandleFunc("POST "+pre+"/upload", p.handleUpload)
	mux.HandleFunc("GET "+pre+"/status/{jobId}", p.handleStatus)
	mux.HandleFunc("GET "+pre+"/media", p.handleListMedia)
	mux.HandleFunc("GET "+pre+"/media/{mediaId}", p.handleGetMedia)
	mux.HandleFunc("DELETE "+pre+"/media/{mediaId}", p.handleDeleteMedia)
	mux.HandleFunc("GET "+pre+"/config", p.handleConfig)
	if p.local != nil {
		// Staged uploads are never served: only variants and originals.
		files := p.local.Handler(p.layout.Media+"/", p.layout.Originals+"/")
		mux.Handle("GET "+pre+"/files/", http.StripPrefix(pre+"/files/", files))
	}
	return mux
}

// handleUpload reads the multipart body part by part, streaming the file to
// staging as it arrives: fields may come before or after it.
func (p *Pipeline) handleUpload(w http.ResponseWriter, r *http.Request) {
	// Room for the fields and multipart framing beside the largest file.
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxFileSize+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, ErrNoFile)
		return
	}
	var (
		sourceType, sourceID string
		jobID                string // set once the file is staged
		gotType, gotID       bool
	)
	fail := func(err error) {
		if jobID != "" {
			p.discard(p.layout.Staged(jobID))
		}
		p.fail(w, r, err, ErrBadUpload)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(readError(err, p.cfg.MaxFileSize))
			return
		}
		switch part.FormName() {
		case "sourceType":
			sourceType, gotType = readField(part), true
		case "sourceId":
			sourceID, gotID = readField(part), true
		case "file":
			if jobID != "" {
				break // one file per upload: later ones are ignored
			}
			// With both fields known, refuse before reading the file.
			if gotType && gotID {
				if err := p.checkFields(sourceType, sourceID); err != nil {
					fail(err)
					return
				}
			}
			id := newID("job_")
			if err := p.stage(r.Context(), id, part); err != nil {
				// A refusal about the file ranks after the fields'; those
				// may still come, so finish reading the form first.
				if !gotType || !gotID {
					if ferr := p.fieldsAfter(mr, &sourceType, &sourceID); ferr == nil {
						if ferr := p.checkFields(sourceType, sourceID); ferr != nil {
							err = ferr
						}
					}
				}
				fail(err)
				return
			}
			jobID = id
		}
		part.Close()
	}
	if jobID == "" {
		fail(ErrNoFile)
		return
	}
	if err := p.checkFields(sourceType, sourceID); err != nil {
		fail(err)
		return
	}
	if err := p.enqueue(r.Context(), jobID, sourceType, sourceID); err != nil {
		p.fail(w, r, err, ErrQueue)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"jobId":     jobID,
		"message":   "File uploaded. Processing started.",
		"statusUrl": p.cfg.Prefix + "/status/" + jobID,
	})
}

// fieldsAfter reads the rest of a form for its fields after a refused
// file, within the body limit, so that refusals keep the contract's order.
func (p *Pipeline) fieldsAfter(mr *multipart.Reader, sourceType, sourceID *string) error {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch part.FormName() {
		case "sourceType":
			*sourceType = readField(part)
		case "sourceId":
			*sourceID = readField(part)
		}
		part.Close()
	}
}

// readField reads a short form value; longer ones are cut, which makes them
// invalid rather than expensive.
func readField(part *multipart.Part) string {
	b, _ := io.ReadAll(io.LimitReader(part, 1024))
	return string(b)
}

func (p *Pipeline) handleStatus(w http.ResponseWriter, r *http.Request) {
	job, err := p.GetStatus(r.Context(), r.PathValue("jobId"))
	if err != nil {
		p.fail(w, r, err, errInternal)
		return
	}
	writeStatus(w, job)
}

// writeStatus answers with the status code and fields of the job's state.
func writeStatus(w http.ResponseWriter, job *Job) {
	body := map[string]any{"jobId": job.ID, "status": job.Status}
	code := http.StatusAccepted
	switch job.Status {
	case StatusComplete:
		code = http.StatusOK
		body["media"] = job.Media
	case StatusRejected:
		code = http.StatusBadRequest
		body["reason"] = job.Reason
		body["moderationDetails"] = job.ModerationDetails
	case StatusFailed:
		code = http.StatusInternalServerError
		body["error"] = job.Error
		body["attempts"] = job.Attempts
	}
	writeJSON(w, code, body)
}

func (p *Pipeline) handleGetMedia(w http.ResponseWriter, r *http.Request) {
	m, err := p.GetMedia(r.Context(), r.PathValue("mediaId"))
	if err != nil {
		p.fail(w, r, err, errInternal)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (p *Pipeline) handleListMedia(w http.ResponseWriter, r *http.Request) {
	sourceType, sourceID := r.URL.Query().Get("sourceType"), r.URL.Query().Get("sourceId")
	if sourceType == "" || sourceID == "" {
		writeError(w, ErrMissingFields)
		return
	}
	list, err := p.ListMedia(r.Context(), sourceType, sourceID)
	if err != nil {
		p.fail(w, r, err, errInternal)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"media": list})
}

func (p *Pipeline) handleDeleteMedia(w http.ResponseWriter, r *http.Request) {
	if err := p.DeleteMedia(r.Context(), r.PathValue("mediaId")); err != nil {
		p.fail(w, r, err, errInternal)
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

// errInternal answers failures that are no client's fault.
var errInternal = &Error{Status: http.StatusInternalServerError, Code: "INTERNAL_ERROR", Message: "Internal server error"}

// fail answers with err as a client-safe error, logging what is not the
// client's fault.
func (p *Pipeline) fail(w http.ResponseWriter, r *http.Request, err error, fallback *Error) {
	e := asError(err, fallback)
	if e.Status >= 500 {
		p.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", e)
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]string{"error": e.Message, "code": e.Code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	// An error here means the client is gone: there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}
