package load

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// batch is a run of statements sent in one round trip (pgx.Batch) and
// read back in order; the first that fails stops the rest, and its error
// names it. A sync of a small tenant spends more time in round trips than
// in its statements: those that do not depend on one another's results
// go together.
type batch struct {
	b     pgx.Batch
	reads []batchRead
}

// batchRead reads one statement's result.
type batchRead struct {
	what string
	read func(pgx.BatchResults) error
}

// exec queues s; done, if not nil, gets its command tag.
func (b *batch) exec(s step, done func(pgconn.CommandTag)) {
	b.b.Queue(s.sql, s.args...)
	b.reads = append(b.reads, batchRead{s.what, func(r pgx.BatchResults) error {
		tag, err := r.Exec()
		if err == nil && done != nil {
			done(tag)
		}
		return err
	}})
}

// queryRow queues s, a statement of one row, scanned into dest.
func (b *batch) queryRow(s step, dest ...any) {
	b.b.Queue(s.sql, s.args...)
	b.reads = append(b.reads, batchRead{s.what, func(r pgx.BatchResults) error {
		return r.QueryRow().Scan(dest...)
	}})
}

// query queues s, whose rows are scanned into dest, each then handed to fn.
func (b *batch) query(s step, dest []any, fn func() error) {
	b.b.Queue(s.sql, s.args...)
	b.reads = append(b.reads, batchRead{s.what, func(r pgx.BatchResults) error {
		rows, err := r.Query()
		if err != nil {
			return err
		}
		_, err = pgx.ForEachRow(rows, dest, fn)
		return err
	}})
}

// read queues s, whose result read takes from the batch's results.
func (b *batch) read(s step, read func(pgx.BatchResults) error) {
	b.b.Queue(s.sql, s.args...)
	b.reads = append(b.reads, batchRead{s.what, read})
}

// beginSync queues, first in b, the start of a sync's transaction, in the
// round trip of the statements queued after it (sendBegin): BEGIN;
// search_path pinned to pg_catalog, pg_temp for the transaction; the
// transaction set up for set-based statements over a listing (memory for
// their hash joins, no JIT, no notice that a work table exists: see
// sync_configure); and the sync's work tables, created unless they
// exist. Every statement names its schema today; the pin keeps a future
// unqualified name from resolving into a schema another role may create
// objects in (public, or one named after the login). SET LOCAL holds
// through a transaction pooler, where a session's setting would land on
// another client's server connection, and a startup parameter is refused
// (PgBouncer's "unsupported startup parameter"); it ends with the
// transaction, so a connection handed back carries nothing of it. (A
// statement prepared before the pin is analyzed again under it:
// PostgreSQL replans a cached statement when search_path differs.)
func (b *batch) beginSync(workTables []string) {
	if b.len() != 0 {
		panic("batch.beginSync after a statement was queued")
	}
	b.b.BeginTx(pgx.TxOptions{})
	b.reads = append(b.reads, batchRead{"begin", func(r pgx.BatchResults) error {
		_, err := r.Exec()
		return err
	}})
	b.exec(step{"pin search_path", query("sync_pin_search_path"), nil}, nil)
	b.exec(step{"configure the transaction", query("sync_configure"), []any{workMem}}, nil)
	for _, t := range workTables {
		b.exec(step{"create the work tables", t, nil}, nil)
	}
}

// sendBegin sends on conn the statements of a batch that begins a
// transaction (beginSync), and returns the transaction: whatever the
// error, when it is not nil the caller rolls it back.
func (b *batch) sendBegin(ctx context.Context, conn *pgx.Conn, log *slog.Logger, what string) (pgx.Tx, error) {
	start := time.Now()
	results := conn.SendBatch(ctx, &b.b)
	tx := results.Tx()
	if err := b.readAll(results, what); err != nil {
		return tx, err
	}
	logStep(log, what, start)
	return tx, nil
}

// len is the number of statements queued.
func (b *batch) len() int { return len(b.reads) }

// batchSender is what sends a batch: a transaction, a connection or a
// pool.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// send sends the queued statements and reads their results; what names
// the batch in the log of the sync's steps.
func (b *batch) send(dbCtx context.Context, tx pgx.Tx, log *slog.Logger, what string) error {
	if b.len() == 0 {
		return nil
	}
	start := time.Now()
	if err := b.sendOn(dbCtx, tx, what); err != nil {
		return err
	}
	logStep(log, what, start)
	return nil
}

// sendPool sends the queued statements on a connection of pool, outside
// any transaction: they run in one round trip and in one transaction of
// their own (PostgreSQL commits the statements of a pipeline together at
// its end), and roll back together when one fails. The first failing
// statement's error names it.
func (b *batch) sendPool(ctx context.Context, pool *pgxpool.Pool) error {
	return b.sendOn(ctx, pool, "send the batch")
}

// sendOn sends the queued statements with s and reads their results.
func (b *batch) sendOn(ctx context.Context, s batchSender, what string) error {
	if b.len() == 0 {
		return nil
	}
	return b.readAll(s.SendBatch(ctx, &b.b), what)
}

// readAll reads the results of the queued statements in order and closes
// them; the first failing statement's error names it, and what names the
// batch when closing fails.
func (b *batch) readAll(results pgx.BatchResults, what string) error {
	for _, r := range b.reads {
		if err := r.read(results); err != nil {
			_ = results.Close()
			return fmt.Errorf("%s: %w", r.what, interpretError(err))
		}
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("%s: %w", what, interpretError(err))
	}
	return nil
}

// analyzeOnce gathers, in the transaction of tx, the statistics of a
// sync's work tables with statement (an ANALYZE of them all) when some of
// them were never analyzed: unanalyzed names those, as
// work_tables_unanalyzed lists them. A temporary table is never analyzed by
// autovacuum, and the planner takes one never analyzed for ten pages of
// rows (hundreds), however few it holds: it then joins it to the storage
// tables by reading every row of the tenant, or of every tenant, where an
// index probe per row is all it takes. Analyzed once (empty, or holding
// a listing), the table is estimated from the pages it fills at each
// statement: a page for a handful of rows, as many as a large listing
// takes. (The statements that join a work table to a storage table also
// give its keys as an array, which the storage table's index reads
// whatever the estimate.) The work tables keep their statistics for the session's life
// (their rows go at each commit, not their pg_class entry), so ANALYZE
// runs once per connection, not once per sync.
func analyzeOnce(dbCtx context.Context, tx pgx.Tx, unanalyzed []string, statement string) error {
	if len(unanalyzed) == 0 {
		return nil
	}
	if _, err := tx.Exec(dbCtx, statement); err != nil {
		return fmt.Errorf("analyze the work tables: %w", interpretError(err))
	}
	return nil
}
