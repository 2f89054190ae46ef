package ximagepipeline

import (
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/ximagepipeline/ximagepipeline/failure"
	"github.com/ximagepipeline/ximagepipeline/internal/fetch"
)

// stageURL fetches an upload's url (internal/fetch: public addresses only,
// unless Config.FetchAllow lists them, checked after DNS on every hop;
// bounded time, redirects and size) and stages its body exactly as an
// uploaded file's (stage): its type sniffed from the bytes, never from the
// server's Content-Type, its size at most limit, its pixels. Fetch errors
// name addresses: they are logged, and the client gets a code and a
// message without them.
func (p *Pipeline) stageURL(ctx context.Context, key, rawURL string, limit int64) error {
	if err := fetch.CheckURL(rawURL); err != nil {
		return ErrURLInvalid.With("", err)
	}
	f := fetch.Fetcher{
		MaxBytes: limit, Timeout: p.cfg.FetchTimeout, MaxRedirects: p.cfg.FetchMaxRedirects, Allow: p.cfg.FetchAllow,
	}
	resp, err := f.Get(ctx, rawURL)
	if err != nil {
		return p.fetchFailure(ctx, err, limit)
	}
	defer resp.Body.Close()
	return p.stage(ctx, key, &fetchedBody{r: resp.Body, p: p, ctx: ctx, limit: limit}, limit)
}

// fetchedBody turns the errors of a fetched body into the upload's.
type fetchedBody struct {
	r     io.Reader
	p     *Pipeline
	ctx   context.Context
	limit int64
}

func (b *fetchedBody) Read(buf []byte) (int, error) {
	n, err := b.r.Read(buf)
	if err != nil && err != io.EOF {
		err = b.p.fetchFailure(b.ctx, err, b.limit)
	}
	return n, err
}

// fetchFailure is the refusal of a fetch that failed with err, which is
// logged: its text names hosts and addresses.
func (p *Pipeline) fetchFailure(ctx context.Context, err error, limit int64) *Error {
	var e *Error
	var status *fetch.StatusError
	switch {
	case errors.Is(err, fetch.ErrTooLarge):
		return failure.FileTooLarge(limit)
	case errors.Is(err, fetch.ErrForbiddenAddress):
		e = ErrURLForbidden.With("", err)
	case errors.Is(err, fetch.ErrTimeout):
		e = failure.URLTimeout(p.cfg.FetchTimeout, err)
	case errors.Is(err, fetch.ErrTooManyRedirects):
		e = failure.URLFetchFailed("more than "+strconv.Itoa(max(p.cfg.FetchMaxRedirects, 0))+" redirects", err)
	case errors.Is(err, fetch.ErrBadURL):
		// The url itself passed CheckURL: a redirect led here.
		e = failure.URLFetchFailed("it redirects to a URL that is not fetched", err)
	case errors.As(err, &status):
		e = failure.URLFetchFailed("the server answered "+strconv.Itoa(status.Code), err)
	case errors.Is(err, fetch.ErrNetwork):
		e = failure.URLFetchFailed("the server could not be reached or the connection failed", err)
	default: // the caller's context ended: the client left
		return ErrBadUpload.With("", err)
	}
	p.cfg.Logger.Info("url not fetched", "request_id", RequestID(ctx), "code", e.Code, "err", err)
	return e
}
