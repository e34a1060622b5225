package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// ErrNoSchema is returned by Prepare when the schema agentsync is missing
// and the migrating user may not create it.
var ErrNoSchema = errors.New("cannot create schema " + Schema)

// Prepare makes the schema agentsync ready for goose's records: creates it
// when missing (the migrating user then owns it), and moves the record of
// applied migrations there from public, where earlier versions kept it.
// Several processes may prepare at once. A server older than
// MinServerVersion is refused first (ErrServerTooOld).
func Prepare(ctx context.Context, db *sql.DB) error {
	if err := checkServer(ctx, db); err != nil {
		return err
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT pg_catalog.to_regnamespace($1) IS NOT NULL`, Schema).Scan(&exists); err != nil {
		return fmt.Errorf("look for schema %s: %w", Schema, err)
	}
	if !exists {
		// One statement, with its comment: another process may create it
		// at the same time, and then comments it.
		_, err := db.ExecContext(ctx, `
			DO $$
			BEGIN
			    CREATE SCHEMA `+Schema+`;
			    COMMENT ON SCHEMA `+Schema+` IS 'agentsync''s own records: which migrations of the schema defender are applied (goose_db_version), and the lock held while migrating (goose_lock). Not for readers.';
			EXCEPTION WHEN duplicate_schema OR unique_violation THEN
			    NULL;
			END;
			$$`)
		if err != nil && !schemaExists(ctx, db) {
			return fmt.Errorf("%w (it holds the record of applied migrations; an administrator may create it for the "+
				"migrating user: CREATE SCHEMA %s AUTHORIZATION <user>): %w", ErrNoSchema, Schema, err)
		}
	}
	// One statement: a concurrent move either finds the table gone (its
	// name no longer resolves) or moved already.
	_, err := db.ExecContext(ctx, `
		DO $$
		BEGIN
		    IF pg_catalog.to_regclass('`+legacyVersionTable+`') IS NOT NULL
		       AND pg_catalog.to_regclass('`+VersionTable+`') IS NULL THEN
		        ALTER TABLE `+legacyVersionTable+` SET SCHEMA `+Schema+`;
		        ALTER TABLE `+Schema+`.agentsync_goose_db_version RENAME TO goose_db_version;
		    END IF;
		EXCEPTION WHEN undefined_table OR duplicate_table THEN
		    NULL;
		END;
		$$`)
	if err != nil {
		return fmt.Errorf("move the record of applied migrations from %s to %s: %w", legacyVersionTable, VersionTable, err)
	}
	return nil
}

// Open prepares db (see Prepare) and returns a provider for it.
func Open(ctx context.Context, db *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	if err := Prepare(ctx, db); err != nil {
		return nil, err
	}
	return NewProvider(db, logger)
}

// schemaExists reports whether the schema agentsync exists now.
func schemaExists(ctx context.Context, db *sql.DB) bool {
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT pg_catalog.to_regnamespace($1) IS NOT NULL`, Schema).Scan(&exists)
	return err == nil && exists
}
