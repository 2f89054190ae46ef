package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/ximagepipeline/ximagepipeline/media"
	"github.com/ximagepipeline/ximagepipeline/moderation"
)

// Media is one processed image.
type Media struct {
	ID         string
	JobID      string
	SourceType string
	SourceID   string
	Facts      MediaFacts // kept as one JSON document
	// Moderation is what moderation said, kept as JSON in its own column;
	// nil when the source type is not moderated.
	Moderation *moderation.Review
	// PHash is the perceptual hash, in its own indexed column; 0 (NULL)
	// when the image is flat.
	PHash     uint64
	CreatedAt time.Time
}

// MediaFacts is what processing learnt and wrote. Objects are recorded by
// key, not URL, so a change of public URL applies to existing media.
type MediaFacts struct {
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	AspectRatio string `json:"aspectRatio"`
	BlurHash    string `json:"blurhash"`
	ThumbHash   []byte `json:"thumbhash,omitempty"` // base64 in JSON
	// DominantColor is "#rrggbb"; empty for media made before it existed.
	DominantColor string            `json:"dominantColor,omitempty"`
	Format        string            `json:"format"`
	FocalPoint    media.Point       `json:"focalPoint"`
	Variants      []VariantFacts    `json:"variants"`
	OriginalKey   string            `json:"originalKey,omitempty"`
	Source        media.SourceFacts `json:"source"`
}

// VariantFacts describes one stored variant.
type VariantFacts struct {
	Name   string `json:"name"`
	Format string `json:"format"`
	Key    string `json:"key"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
}

const mediaColumns = `id, job_id, source_type, source_id, doc, moderation, phash, created_at`

func scanMedia(row interface{ Scan(...any) error }) (Media, error) {
	var (
		m       Media
		doc     string
		review  sql.NullString
		hash    sql.NullInt64
		created int64
	)
	err := row.Scan(&m.ID, &m.JobID, &m.SourceType, &m.SourceID, &doc, &review, &hash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Media{}, ErrNotFound
	}
	if err != nil {
		return Media{}, err
	}
	m.CreatedAt = fromMillis(created)
	m.PHash = uint64(hash.Int64)
	if err := json.Unmarshal([]byte(doc), &m.Facts); err != nil {
		return Media{}, fmt.Errorf("store: media %s: %w", m.ID, err)
	}
	if review.Valid {
		m.Moderation = new(moderation.Review)
		if err := json.Unmarshal([]byte(review.String), m.Moderation); err != nil {
			return Media{}, fmt.Errorf("store: media %s: moderation: %w", m.ID, err)
		}
	}
	return m, nil
}

// Media returns one media record, or ErrNotFound.
func (s *Store) Media(ctx context.Context, id string) (Media, error) {
	return scanMedia(s.db.QueryRowContext(ctx, s.q(`SELECT `+mediaColumns+` FROM ximage_media WHERE id = ?`), id))
}

// ListMedia returns an owner's media, newest first.
func (s *Store) ListMedia(ctx context.Context, sourceType, sourceID string) ([]Media, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+mediaColumns+` FROM ximage_media
		WHERE source_type = ? AND source_id = ? ORDER BY created_at DESC, id DESC`), sourceType, sourceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	list := []Media{}
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, m)
	}
	return list, rows.Err()
}

// DeleteMedia removes a media record; the jobs that made it keep their
// history with no media id. It returns ErrNotFound when there is none.
func (s *Store) DeleteMedia(ctx context.Context, id string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM ximage_media WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE ximage_jobs SET media_id = NULL WHERE media_id = ?`), id)
		return err
	})
}

// Similar is a media near another, and how near.
type Similar struct {
	Media
	Distance int // bits that differ between the perceptual hashes
}

// SimilarMedia returns the media of id's source type whose perceptual
// hash is within maxDistance bits of id's, nearest first (then newest),
// id itself left out: none when id's image is flat. It returns ErrNotFound
// when id does not exist. The hashes of the source type are compared here,
// not in SQL: SQLite has no popcount, and a scan of 100,000 hashes takes
// about 0.1 ms (docs/decisions.md).
func (s *Store) SimilarMedia(ctx context.Context, id string, maxDistance int) ([]Similar, error) {
	m, err := s.Media(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []Similar{}
	if m.PHash == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, phash FROM ximage_media
		WHERE source_type = ? AND phash IS NOT NULL AND id <> ?`), m.SourceType, id)
	if err != nil {
		return nil, err
	}
	near := map[string]int{}
	for rows.Next() {
		var (
			other string
			hash  int64
		)
		if err := rows.Scan(&other, &hash); err != nil {
			rows.Close()
			return nil, err
		}
		if d := bits.OnesCount64(m.PHash ^ uint64(hash)); d <= maxDistance {
			near[other] = d
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for other, d := range near {
		om, err := s.Media(ctx, other)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Similar{Media: om, Distance: d})
	}
	slices.SortFunc(out, func(a, b Similar) int {
		return cmp.Or(a.Distance-b.Distance, b.CreatedAt.Compare(a.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}
