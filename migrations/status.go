package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNeedsOwner is returned by Status when the user may not read the
// record of applied migrations: only the migrating user (the owner of the
// schemas defender and agentsync) may.
var ErrNeedsOwner = errors.New("the record of applied migrations is readable by the migrating user only")

// MigrationStatus is one embedded migration and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Path      string
	Applied   bool
	AppliedAt time.Time // zero when pending
}

// Status lists the embedded migrations and which are applied. Unlike
// goose's own status it writes nothing and takes no lock, so that it runs
// on a hot standby; a user who may not read the record gets ErrNeedsOwner.
func Status(ctx context.Context, db *sql.DB) ([]MigrationStatus, error) {
	p, err := NewProvider(db, nil)
	if err != nil {
		return nil, err
	}
	var table sql.NullString
	err = db.QueryRowContext(ctx, `
		SELECT coalesce(pg_catalog.to_regclass($1)::text, pg_catalog.to_regclass($2)::text)`,
		VersionTable, legacyVersionTable).Scan(&table)
	if err != nil {
		return nil, fmt.Errorf("look for the record of applied migrations: %w", needsOwner(ctx, db, err))
	}
	applied := map[int64]time.Time{}
	if table.Valid {
		rows, err := db.QueryContext(ctx, `
			SELECT DISTINCT ON (version_id) version_id, is_applied, tstamp
			  FROM `+table.String+`
			 ORDER BY version_id, id DESC`)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", table.String, needsOwner(ctx, db, err))
		}
		defer rows.Close()
		for rows.Next() {
			var version int64
			var isApplied bool
			var at time.Time
			if err := rows.Scan(&version, &isApplied, &at); err != nil {
				return nil, fmt.Errorf("read %s: %w", table.String, err)
			}
			if isApplied {
				applied[version] = at
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", table.String, err)
		}
	}
	var out []MigrationStatus
	for _, src := range p.ListSources() {
		at, ok := applied[src.Version]
		out = append(out, MigrationStatus{Version: src.Version, Path: src.Path, Applied: ok, AppliedAt: at})
	}
	return out, nil
}

// needsOwner turns a "permission denied" into an error matching
// ErrNeedsOwner that says who may run the command.
func needsOwner(ctx context.Context, db *sql.DB, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		return err
	}
	var user string
	_ = db.QueryRowContext(ctx, `SELECT current_user`).Scan(&user)
	return fmt.Errorf("%w (schema %s); %s may not: run migrate status as the user that runs migrate up: %w",
		ErrNeedsOwner, Schema, user, err)
}
