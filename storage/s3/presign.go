package s3

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/ximagepipeline/ximagepipeline/storage"
)

const (
	// MaxPresignExpiry is the longest life of a presigned URL: SigV4's
	// limit of seven days.
	MaxPresignExpiry = 7 * 24 * time.Hour
	// MaxPresignSize is the largest object a presigned PUT can write: S3's
	// limit for a single PUT, 5 GiB.
	MaxPresignSize = 5 << 30
)

var _ storage.Presigner = (*Store)(nil)

// PresignPut signs a PUT of key (under Prefix) with SigV4 query
// authentication. Content-Length, Content-Type and, when Config.CacheControl
// gives key one, Cache-Control are signed headers, so the URL writes only an
// object of exactly size bytes with that type: a request with another
// Content-Length (a shorter or longer body) fails the signature check.
// (S3 POST policies can bound a size too, but R2 has none; a signed
// Content-Length works on AWS, R2 and MinIO alike.) The client must send
// the returned headers unchanged; browsers set Content-Length from the body
// and refuse to set it by hand.
//
// Signing makes no request to the bucket. A URL signed with temporary
// credentials (an instance or container role) stops working when they
// expire, whatever expiry says. expiry is 1 s to MaxPresignExpiry; size 1
// to MaxPresignSize.
func (s *Store) PresignPut(ctx context.Context, key string, size int64, contentType string, expiry time.Duration) (string, http.Header, error) {
	if err := storage.ValidateKey(key); err != nil {
		return "", nil, err
	}
	if size < 1 || size > MaxPresignSize {
		return "", nil, fmt.Errorf("s3: presign %q: size %d is not between 1 and %d bytes", key, size, int64(MaxPresignSize))
	}
	if _, _, err := mime.ParseMediaType(contentType); err != nil {
		return "", nil, fmt.Errorf("s3: presign %q: content type %q: %v", key, contentType, err)
	}
	if expiry < time.Second || expiry > MaxPresignExpiry {
		return "", nil, fmt.Errorf("s3: presign %q: expiry %s is not between 1s and %s", key, expiry, MaxPresignExpiry)
	}
	h := http.Header{}
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Type", contentType)
	if cc := s.cfg.CacheControl(key); cc != "" {
		h.Set("Cache-Control", cc)
	}
	u, err := s.client.PresignHeader(ctx, http.MethodPut, s.cfg.Bucket, s.ObjectKey(key), expiry, nil, h)
	if err != nil {
		return "", nil, fmt.Errorf("s3: presign %q: %w", key, err)
	}
	return u.String(), h, nil
}
