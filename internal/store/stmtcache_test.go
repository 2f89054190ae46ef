package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// cacheOf returns the statement cache of the database's one connection.
func cacheOf(t *testing.T, db *sql.DB) (queries []string) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		for e := dc.(*cachingConn).lru.Front(); e != nil; e = e.Next() {
			queries = append(queries, e.Value.(*cachedStmt).query)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return queries
}

// The SQLite connection keeps its statements with parameters prepared
// (the most recent stmtCacheSize), answers as the plain driver would, and
// never reuses a statement whose rows are still being read.
func TestStatementCache(t *testing.T) {
	s, err := open(context.Background(), "", filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := cacheOf(t, db); len(got) != 1 || got[0] != `INSERT INTO t (k, v) VALUES (?, ?)` {
		t.Fatalf("cache %q, want the one insert, prepared once", got)
	}

	// The same query again while its first rows are open, in a transaction
	// (one connection): both read their own rows.
	const q = `SELECT k FROM t WHERE k >= ? ORDER BY k`
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		outer, err := tx.QueryContext(ctx, q, 40)
		if err != nil {
			return err
		}
		defer outer.Close()
		var ks []int
		for outer.Next() {
			var k int
			if err := outer.Scan(&k); err != nil {
				return err
			}
			var inner int
			if err := tx.QueryRowContext(ctx, q, k+5).Scan(&inner); err != nil && k+5 < 50 {
				return fmt.Errorf("inner query at %d: %w", k, err)
			}
			ks = append(ks, k)
		}
		if len(ks) != 10 || ks[0] != 40 || ks[9] != 49 {
			return fmt.Errorf("outer rows %v, want 40..49", ks)
		}
		return outer.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	// Column types come through as the driver gives them.
	rows, err := db.QueryContext(ctx, `SELECT k, v FROM t WHERE k = ?`, 3)
	if err != nil {
		t.Fatal(err)
	}
	types, err := rows.ColumnTypes()
	rows.Close()
	if err != nil || len(types) != 2 || types[0].DatabaseTypeName() != "INTEGER" || types[1].DatabaseTypeName() != "TEXT" {
		t.Fatalf("column types %v, %v; want INTEGER and TEXT", types, err)
	}

	for i := range stmtCacheSize + 20 {
		var v string
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT v || '%d' FROM t WHERE k = ?`, i), 7).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("v7", i); v != want {
			t.Fatalf("got %q, want %q", v, want)
		}
	}
	if n := len(cacheOf(t, db)); n != stmtCacheSize {
		t.Fatalf("%d statements cached, want at most %d", n, stmtCacheSize)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("count = %d, %v", n, err)
	}
	for _, q := range cacheOf(t, db) {
		if q == `SELECT count(*) FROM t` {
			t.Fatal("a statement without parameters was cached")
		}
	}
}
