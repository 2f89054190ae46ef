package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ximagepipeline/ximagepipeline/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestStartGivesFreshDatabases(t *testing.T) {
	t.Parallel()
	a, b := pgtest.Start(t), pgtest.Start(t)
	if a == b {
		t.Fatalf("two calls gave the same database %s", a)
	}
	conn, err := pgx.Connect(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("new database has %d tables, want 0", n)
	}
}

func TestClusterStopStart(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	url := c.NewDatabase(t)
	ping := func() error {
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			return err
		}
		return conn.Close(context.Background())
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	if err := ping(); err == nil {
		t.Fatal("connected to a stopped cluster")
	}
	c.Start(t)
	if err := ping(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}
