-- +goose Up
-- The machine code of a FAILED job's error (package failure), shown as
-- `code` in its status. Jobs that failed before this column existed get
-- the code their message implies.
ALTER TABLE ximage_jobs ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
UPDATE ximage_jobs SET error_code = CASE
    WHEN error LIKE 'Image could not be decoded%' THEN 'UNDECODABLE'
    WHEN error LIKE 'Image too large%' THEN 'IMAGE_TOO_LARGE'
    WHEN error LIKE 'Original too large%' THEN 'ORIGINAL_TOO_LARGE'
    WHEN error = 'Content moderation unavailable' THEN 'MODERATION_UNAVAILABLE'
    WHEN error LIKE 'Source type % is no longer configured' THEN 'SOURCE_TYPE_REMOVED'
    WHEN error = 'The uploaded file is missing from staging' THEN 'STAGED_FILE_MISSING'
    WHEN error LIKE 'Storage refused%' THEN 'STORAGE_ERROR'
    ELSE 'PROCESSING_ERROR'
END
WHERE outcome = 'FAILED';

-- +goose Down
ALTER TABLE ximage_jobs DROP COLUMN error_code;
