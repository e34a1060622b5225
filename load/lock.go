package load

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// tryLock takes the session-level advisory lock of a tenant without
// waiting. Session-level, not transaction-level: the run row is written
// outside the data transaction, under the same lock.
func tryLock(ctx context.Context, conn *pgx.Conn, key int64) (bool, error) {
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
		return false, fmt.Errorf("take tenant lock: %w", interpretError(err))
	}
	return locked, nil
}

func unlock(ctx context.Context, conn *pgx.Conn, key int64) error {
	var released bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_advisory_unlock($1)", key).Scan(&released); err != nil {
		return fmt.Errorf("release tenant lock: %w", interpretError(err))
	}
	if !released {
		return fmt.Errorf("release tenant lock: lock %d was not held", key)
	}
	return nil
}
