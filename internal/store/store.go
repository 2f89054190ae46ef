// Package store keeps ximagepipeline's own records, jobs and media, in
// SQLite or PostgreSQL. The queue engine (River) keeps its tables in the same
// database, so an upload's job record and its queue entry commit together.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned when a job or media record does not exist.
var ErrNotFound = errors.New("store: not found")

// Dialect names the database engine.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// Store is the database: its *sql.DB is shared with the queue.
type Store struct {
	db      *sql.DB
	pool    *pgxpool.Pool // PostgreSQL only: the queue's workers use it for LISTEN/NOTIFY
	dialect Dialect
}

// Open connects to databaseURL ("" or "sqlite:PATH" for SQLite, a
// "postgres://" URL for PostgreSQL) and applies the schema migrations.
// defaultPath is the SQLite file used when databaseURL is empty.
func Open(ctx context.Context, databaseURL, defaultPath string) (*Store, error) {
	s, err := open(ctx, databaseURL, defaultPath)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, databaseURL, defaultPath string) (*Store, error) {
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		pool, err := pgxpool.New(ctx, databaseURL)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: %w", err)
		}
		return &Store{db: stdlib.OpenDBFromPool(pool), pool: pool, dialect: Postgres}, nil
	case databaseURL == "", strings.HasPrefix(databaseURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "//")
		if path == "" {
			path = defaultPath
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// WAL lets readers of other processes (the CLI) work beside the
		// server; busy_timeout makes a writer wait rather than fail.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
		db := sql.OpenDB(cachingConnector{dsn: dsn, driver: &sqlite.Driver{}})
		// River's SQLite driver wants a single connection: SQLite has one
		// writer anyway, and one connection never deadlocks on its own locks.
		db.SetMaxOpenConns(1)
		return &Store{db: db, dialect: SQLite}, nil
	default:
		return nil, fmt.Errorf("store: database URL %q: use postgres://... or sqlite:PATH", databaseURL)
	}
}

func (s *Store) migrate(ctx context.Context) error {
	return s.WithMigrationLock(ctx, func() error { return s.migrateUnlocked(ctx) })
}

// migrationLockID is the PostgreSQL advisory lock held while migrating
// (any constant unlikely to be used by another application).
const migrationLockID = 0x78696d67 // "ximg"

// WithMigrationLock runs fn holding a lock that serialises migrations
// across processes: on PostgreSQL a session advisory lock, since every
// process of a fleet migrates at start-up and neither goose nor River's
// migrator locks on its own (two at once fail on "already exists"). On
// SQLite, one process owns the file: fn just runs.
func (s *Store) WithMigrationLock(ctx context.Context, fn func() error) error {
	if s.pool == nil {
		return fn()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID) //nolint:errcheck // released with the session anyway
	return fn()
}

func (s *Store) migrateUnlocked(ctx context.Context) error {
	dialect := goose.DialectSQLite3
	if s.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, s.db, sub, goose.WithTableName("ximage_schema"))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// DB is the database handle, shared with the queue.
func (s *Store) DB() *sql.DB { return s.db }

// Pool is the pgx pool on PostgreSQL, nil on SQLite.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Dialect says which engine this is.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.pool != nil {
		s.pool.Close()
	}
	return err
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// q rewrites the '?' placeholders of a query for the dialect.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
