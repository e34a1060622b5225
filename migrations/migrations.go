// Package migrations owns the defender schema: plain SQL goose migrations
// embedded in the binary, applied through goose's Provider API under a
// PostgreSQL session lock so that several processes may migrate at once.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/crc64"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The numbered migrations alone: schema.sql, beside them, is their result.
//
//go:embed [0-9]*_*.sql
var embedded embed.FS

// VersionTable is the schema-qualified table in which goose records the
// applied migrations. It lives outside the defender schema, so that rolling
// back the first migration (which drops that schema) keeps the record.
const VersionTable = "public.agentsync_goose_db_version"

// LockID is the PostgreSQL advisory lock key held while migrating. It is
// agentsync's own, so other goose users of the same database never wait on it.
var LockID = int64(crc64.Checksum([]byte("agentsync migrations"), crc64.MakeTable(crc64.ECMA)) >> 1)

// FS returns the embedded migration files.
func FS() fs.FS { return embedded }

// NewProvider returns a goose provider for the embedded migrations on db.
// goose logs to logger, or nowhere when it is nil.
func NewProvider(db *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	// Poll the lock every second for up to 10 minutes: a concurrent migration
	// of this schema finishes well within that.
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(LockID),
		lock.WithLockTimeout(1, 600),
	)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		goose.WithTableName(VersionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, embedded, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration and returns how many it applied.
func Up(ctx context.Context, db *sql.DB, logger *slog.Logger) (int, error) {
	p, err := NewProvider(db, logger)
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate up: %w", err)
	}
	return len(results), nil
}
