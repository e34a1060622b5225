package dbtest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/migrations"
)

// SchemaTwoHistory creates a database for t at schema version 2, filled
// with testdata/upgrade/v2-history.sql (a week of history of two tenants
// as the loader of that schema wrote it), for tests of the upgrades from
// it. It returns a pool on the database and the migration provider that
// takes it further.
func SchemaTwoHistory(t testing.TB) (*pgxpool.Pool, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	pool, p := Unmigrated(t)
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_, self, _, _ := runtime.Caller(0)
	fixture, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "testdata", "upgrade", "v2-history.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(fixture)); err != nil {
		t.Fatalf("load the schema-2 fixture: %v", err)
	}
	return pool, p
}

// Unmigrated creates an empty database for t, with no migration applied,
// and returns a pool on it and the migration provider that takes it up
// and down, for tests of the migrations on data.
func Unmigrated(t testing.TB) (*pgxpool.Pool, *goose.Provider) {
	t.Helper()
	ctx := context.Background()
	url := EmptyURL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	p, err := migrations.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pool, p
}
