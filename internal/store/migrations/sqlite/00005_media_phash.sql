-- +goose Up
-- The media's 64-bit perceptual hash (internal/phash), as a signed 64-bit
-- integer; NULL for a flat image, whose hash says nothing, and for media
-- made before this column. Near duplicates are looked up within a source
-- type: the index makes that an index-only read.
ALTER TABLE ximage_media ADD COLUMN phash INTEGER;
CREATE INDEX ximage_media_phash ON ximage_media (source_type, phash, id) WHERE phash IS NOT NULL;

-- +goose Down
DROP INDEX ximage_media_phash;
ALTER TABLE ximage_media DROP COLUMN phash;
