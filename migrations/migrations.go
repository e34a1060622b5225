// Package migrations owns the defender schema: plain SQL goose migrations
// embedded in the binary, applied through goose's Provider API under a
// lock held in a table (a lease renewed while migrating), so that several
// processes may migrate at once, directly or through a transaction pooler.
// goose's records (which migrations are applied, and the lock) live in the
// schema agentsync, which the migrating user owns: it needs no privilege
// on public.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/crc64"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The numbered migrations alone: schema.sql, beside them, is their result.
//
//go:embed [0-9]*_*.sql
var embedded embed.FS

// Schema holds goose's records. It lives outside the defender schema, so
// that rolling back the first migration (which drops that schema) keeps
// them, and outside public, where PostgreSQL 15 and managed servers let
// only the database's owner create tables.
const Schema = "agentsync"

// VersionTable is the schema-qualified table in which goose records the
// applied migrations.
const VersionTable = Schema + ".goose_db_version"

// LockTable is the table whose row goose holds while migrating.
const LockTable = Schema + ".goose_lock"

// legacyVersionTable is where versions before the schema agentsync kept
// the record; Prepare moves it.
const legacyVersionTable = "public.agentsync_goose_db_version"

// LockID is the row of LockTable held while migrating. It is agentsync's
// own, so other goose users of the same table never wait on it.
var LockID = int64(crc64.Checksum([]byte("agentsync migrations"), crc64.MakeTable(crc64.ECMA)) >> 1)

// FS returns the embedded migration files.
func FS() fs.FS { return embedded }

// NewProvider returns a goose provider for the embedded migrations on db.
// goose logs to logger, or nowhere when it is nil. Call Prepare first on a
// database that may not have the schema agentsync yet.
func NewProvider(db *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	// A lease in a table rather than a session's advisory lock: through a
	// transaction pooler, a session lock is taken on one server connection
	// and released on another. Poll it every second for up to 10 minutes:
	// a concurrent migration of this schema finishes well within that.
	locker, err := lock.NewPostgresTableLocker(
		lock.WithTableName(LockTable),
		lock.WithTableLockID(LockID),
		lock.WithTableLockTimeout(time.Second, 600),
	)
	if err != nil {
		return nil, fmt.Errorf("migration lock: %w", err)
	}
	opts := []goose.ProviderOption{
		goose.WithLocker(locker),
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
	p, err := Open(ctx, db, logger)
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return len(results), fmt.Errorf("migrate up: %w", err)
	}
	return len(results), nil
}
