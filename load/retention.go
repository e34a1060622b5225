package load

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MinObservationRetention is the shortest retention DropObservations
// accepts: the current and the previous day always keep their
// observations.
const MinObservationRetention = 48 * time.Hour

// retentionLockKey serializes retention passes across processes; a pass
// that finds it taken leaves the work to the one holding it.
const retentionLockKey = int64(0x61676e7472657465) // "agntrete"

// DropObservations drops the raw observations older than retention, a
// whole month at a time: the monthly partitions of
// defender.observation_block whose month ended more than retention before
// now. The daily rollups keep the trends of those months.
//
// A partition is first detached concurrently, which never blocks a read
// (it waits for the reads that started before it instead), then dropped.
// A detach interrupted earlier is finished. It returns the partitions it
// dropped.
func DropObservations(ctx context.Context, pool *pgxpool.Pool, retention time.Duration, now time.Time, logger *slog.Logger) ([]string, error) {
	if retention < MinObservationRetention {
		return nil, fmt.Errorf("observation retention %s is shorter than %s", retention, MinObservationRetention)
	}
	if logger == nil {
		logger = slog.Default()
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", interpretError(err))
	}
	defer conn.Release()
	locked, err := tryLock(ctx, conn.Conn(), retentionLockKey)
	if err != nil || !locked {
		return nil, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := unlock(ctx, conn.Conn(), retentionLockKey); err != nil {
			_ = conn.Conn().Close(ctx)
		}
	}()

	cutoff := now.Add(-retention).UTC()
	rows, err := conn.Query(ctx, `
		SELECT c.relname, i.inhdetachpending
		  FROM pg_catalog.pg_inherits i
		  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'defender.observation_block'::pg_catalog.regclass
		 ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("list observation partitions: %w", interpretError(err))
	}
	type partition struct {
		Name          string
		DetachPending bool
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[partition])
	if err != nil {
		return nil, fmt.Errorf("list observation partitions: %w", interpretError(err))
	}
	var dropped []string
	for _, p := range parts {
		month, err := time.Parse("observation_block_2006_01", p.Name)
		if err != nil {
			continue // not one of ours
		}
		if end := month.AddDate(0, 1, 0); end.After(cutoff) {
			continue
		}
		table := pgx.Identifier{"defender", p.Name}.Sanitize()
		detach := "CONCURRENTLY"
		if p.DetachPending {
			detach = "FINALIZE"
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER TABLE defender.observation_block DETACH PARTITION %s %s`, table, detach)); err != nil {
			return dropped, fmt.Errorf("detach %s: %w", p.Name, interpretError(err))
		}
		if _, err := conn.Exec(ctx, `DROP TABLE `+table); err != nil {
			return dropped, fmt.Errorf("drop %s: %w", p.Name, interpretError(err))
		}
		dropped = append(dropped, p.Name)
	}
	if len(dropped) > 0 {
		logger.Info("dropped observations past their retention", "partitions", strings.Join(dropped, ","),
			"retention", retention.String(), "before", cutoff.Format(time.RFC3339))
	}
	return dropped, nil
}

// tryLock takes a session-level advisory lock without waiting.
func tryLock(ctx context.Context, conn *pgx.Conn, key int64) (bool, error) {
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_try_advisory_lock($1)", key).Scan(&locked); err != nil {
		return false, fmt.Errorf("take retention lock: %w", interpretError(err))
	}
	return locked, nil
}

func unlock(ctx context.Context, conn *pgx.Conn, key int64) error {
	var released bool
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_advisory_unlock($1)", key).Scan(&released); err != nil {
		return fmt.Errorf("release retention lock: %w", interpretError(err))
	}
	if !released {
		return fmt.Errorf("release retention lock: lock %d was not held", key)
	}
	return nil
}
