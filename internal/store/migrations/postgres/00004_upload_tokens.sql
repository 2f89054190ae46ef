-- +goose Up
-- Upload tokens that created a job (package uploadtoken): a token is good
-- once. The row is inserted in the transaction that creates the job, under
-- the token's id, so that of two uploads with one token exactly one
-- commits. expires_at is the token's, for pruning rows that can no longer
-- matter.
CREATE TABLE ximage_upload_tokens (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    used_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE ximage_upload_tokens;
