package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// MinServerVersion is the oldest PostgreSQL the schema runs on (as
// server_version_num): 14. The migrations use SQL-standard function
// bodies (BEGIN ATOMIC / RETURN), and observation retention detaches
// partitions concurrently; both came with PostgreSQL 14.
const MinServerVersion = 140000

// ErrServerTooOld is returned when the server is older than
// MinServerVersion.
var ErrServerTooOld = errors.New("PostgreSQL 14 or newer is required")

// checkServerVersion refuses a server older than MinServerVersion; num
// and version are its server_version_num and server_version.
func checkServerVersion(num int, version string) error {
	if num < MinServerVersion {
		return fmt.Errorf("%w: the server runs PostgreSQL %s (agentsync's schema uses SQL-standard function bodies "+
			"and detaches partitions concurrently, both new in 14); upgrade the server", ErrServerTooOld, version)
	}
	return nil
}

// checkServer reads the server's version and refuses it when too old.
func checkServer(ctx context.Context, db *sql.DB) error {
	var num int
	var version string
	if err := db.QueryRowContext(ctx, `
		SELECT pg_catalog.current_setting('server_version_num')::int, pg_catalog.current_setting('server_version')`).Scan(&num, &version); err != nil {
		return fmt.Errorf("read the server's version: %w", err)
	}
	return checkServerVersion(num, version)
}
