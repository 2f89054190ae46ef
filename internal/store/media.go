package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	CreatedAt  time.Time
}

// MediaFacts is what processing learnt and wrote. Objects are recorded by
// key, not URL, so a change of public URL applies to existing media.
type MediaFacts struct {
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	AspectRatio string            `json:"aspectRatio"`
	BlurHash    string            `json:"blurhash"`
	Format      string            `json:"format"`
	FocalPoint  media.Point       `json:"focalPoint"`
	Variants    []VariantFacts    `json:"variants"`
	OriginalKey string            `json:"originalKey,omitempty"`
	Source      media.SourceFacts `json:"source"`
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

const mediaColumns = `id, job_id, source_type, source_id, doc, moderation, created_at`

func scanMedia(row interface{ Scan(...any) error }) (Media, error) {
	var (
		m       Media
		doc     string
		review  sql.NullString
		created int64
	)
	err := row.Scan(&m.ID, &m.JobID, &m.SourceType, &m.SourceID, &doc, &review, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Media{}, ErrNotFound
	}
	if err != nil {
		return Media{}, err
	}
	m.CreatedAt = fromMillis(created)
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
