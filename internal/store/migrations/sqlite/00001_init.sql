-- +goose Up
CREATE TABLE ximage_jobs (
    id           TEXT PRIMARY KEY,
    queue_job_id INTEGER NOT NULL DEFAULT 0,
    source_type  TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    staged_key   TEXT NOT NULL,
    outcome      TEXT,
    media_id     TEXT,
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    moderation   TEXT,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX ximage_jobs_unfinished ON ximage_jobs (created_at) WHERE outcome IS NULL;

CREATE TABLE ximage_media (
    id          TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL UNIQUE,
    source_type TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX ximage_media_owner ON ximage_media (source_type, source_id, created_at);

-- +goose Down
DROP TABLE ximage_media;
DROP TABLE ximage_jobs;
