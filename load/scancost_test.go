package load_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// statementLog records the statements a pool sends, by the first line of
// their text (the comment that names each of the loader's statements), in
// batches too; and apart, the round trips that sent them (a statement, a
// batch, or a COPY: two, its start then its rows).
type statementLog struct {
	mu           sync.Mutex
	lines, trips []string
}

func firstLine(sql string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(sql), "\n")
	return line
}

func (s *statementLog) add(trips int, trip string, sql ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range sql {
		s.lines = append(s.lines, firstLine(q))
	}
	for range trips {
		s.trips = append(s.trips, trip)
	}
}

func (s *statementLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.lines
	s.lines, s.trips = nil, nil
	return out
}

// takeTrips returns the round trips since the last take, each named by
// what it sent.
func (s *statementLog) takeTrips() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.trips
	s.lines, s.trips = nil, nil
	return out
}

func (s *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.add(1, firstLine(d.SQL), d.SQL)
	return ctx
}
func (s *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statementLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	var sql, first []string
	for _, q := range d.Batch.QueuedQueries {
		sql = append(sql, q.SQL)
		first = append(first, firstLine(q.SQL))
	}
	s.add(1, fmt.Sprintf("batch of %d: %s", len(sql), strings.Join(first, " | ")), sql...)
	return ctx
}
func (s *statementLog) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *statementLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (s *statementLog) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	s.add(2, "COPY "+d.TableName.Sanitize())
	return ctx
}
func (s *statementLog) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// tracedLoader is a loader of the fixture's database, on one connection,
// whose statements go to the returned log.
func tracedLoader(t *testing.T, f *fixture) (*load.Loader, *pgxpool.Pool, *statementLog) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(f.url)
	if err != nil {
		t.Fatal(err)
	}
	log := &statementLog{}
	cfg.ConnConfig.Tracer = log
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l, err := load.New(pool, load.Config{TenantID: tenant, Now: f.clock.Now, Worker: "test", Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return l, pool, log
}

// TestHourlyScanSyncsSendOnlyWhatTheyNeed: an hourly sync of scan
// definitions and history that lists what is stored creates no table,
// analyzes none, and sends none of the statements that would have
// nothing to do: the work tables last the connection, and a listing that
// changes nothing is compared and recorded, no more.
func TestHourlyScanSyncsSendOnlyWhatTheyNeed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	l, _, log := tracedLoader(t, f)
	ctx := context.Background()
	if _, err := l.Sync(ctx, listOf(agents(5)...)); err != nil {
		t.Fatal(err)
	}
	defs := definitions(3)
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 2, t0.Add(-time.Hour), [2]string{"10.0.0.1", "Success"}),
		session(defs[1], 1, t0.Add(-2*time.Hour), [2]string{"10.0.1.1", "Success"}),
	}}
	for range 2 {
		f.clock.Advance(time.Hour)
		if _, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SyncHistory(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	first := log.take()
	if !slices.ContainsFunc(first, func(s string) bool { return strings.Contains(s, "Creates, unless it exists") }) {
		t.Fatalf("the first syncs created no work table: %q", first)
	}

	before := f.scanSnapshot(t)
	f.clock.Advance(time.Hour)
	if res, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil || res.Unchanged != 3 {
		t.Fatalf("definitions sync: %+v, %v", res, err)
	}
	if res, err := l.SyncHistory(ctx, h); err != nil || res.Unchanged != 2 || res.Targets != 0 {
		t.Fatalf("history sync: %+v, %v", res, err)
	}
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("syncs of what is stored wrote rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	sent := log.take()
	for _, s := range sent {
		for _, unwanted := range []string{
			"ANALYZE", "-- Creates the", // a work table made anew, or analyzed again
			"Inserts the new definitions", "Closes the open version", "Opens a new version", "Rewrites the definition_state",
			"active definitions the listing lacks", "Keeps only the last listed record", "listed but unreadable",
			"Compares the staged sessions", "Keeps, of a reading by id", "Stores the targets", "Brings target_coverage",
		} {
			if strings.Contains(s, unwanted) {
				t.Errorf("an hourly sync of what is stored sent %q", s)
			}
		}
	}
	if !slices.ContainsFunc(sent, func(s string) bool { return strings.Contains(s, "Records a run's success") }) {
		t.Errorf("the runs were not recorded: %q", sent)
	}
}

// TestScanWorkTablesLastTheConnection: the work tables of the scan syncs
// are created once per connection, not at each sync, and hold no row
// between syncs.
func TestScanWorkTablesLastTheConnection(t *testing.T) {
	t.Parallel()
	f := setup(t)
	l, pool, _ := tracedLoader(t, f)
	ctx := context.Background()
	defs := definitions(2)
	h := &history{sessions: []scanagent.ScanSession{session(defs[0], 1, t0.Add(-time.Hour), [2]string{"10.0.0.1", "Success"})}}
	tables := func() map[string]uint32 {
		t.Helper()
		// The loader's pool has one connection: the syncs ran on it, and
		// so does this query, between them.
		out := map[string]uint32{}
		var names []string
		var oids []uint32
		err := pool.QueryRow(ctx, `
			SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}'), coalesce(array_agg(oid::int8 ORDER BY relname), '{}')
			  FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'
			   AND relname IN ('agentsync_work_definitions', 'agentsync_work_definition_diff', 'agentsync_work_sessions', 'agentsync_work_sessions_diff')`).
			Scan(&names, &oids)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range names {
			out[n] = oids[i]
		}
		return out
	}
	sync := func() {
		t.Helper()
		f.clock.Advance(time.Hour)
		if _, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SyncHistory(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	first := tables()
	if len(first) != 4 {
		t.Fatalf("work tables after a sync: %v, want the 4 of definitions and history", first)
	}
	sync()
	if second := tables(); !maps.Equal(first, second) {
		t.Errorf("work tables made anew by the next sync: %v, then %v", first, second)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_temp.agentsync_work_definitions) + (SELECT count(*) FROM pg_temp.agentsync_work_sessions)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d rows left in the work tables after the syncs", rows)
	}
}
