-- +goose Up
-- What moderation said of a published upload (moderation.Review as JSON);
-- NULL when its source type is not moderated. Existing rows stay NULL.
ALTER TABLE ximage_media ADD COLUMN moderation TEXT;

-- +goose Down
ALTER TABLE ximage_media DROP COLUMN moderation;
