package load_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/load"
)

// TestDropObservationsKeepsTheRollups drops the months of observations past
// the retention while a report reads them: the report is not blocked, the
// daily rollups keep the dropped months, and scan_agents_as_of still
// answers for them.
func TestDropObservationsKeepsTheRollups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recs := agents(5)
	f.clock.Advance(14 * 24 * time.Hour) // 2026-01-15
	for range 3 {                        // two days of January, of March and of May
		for range 2 {
			for i := range recs {
				recs[i].LastSeen = f.clock.Now().Add(-time.Minute)
			}
			f.sync(t, listOf(recs...))
			f.clock.Advance(24 * time.Hour)
		}
		f.clock.Advance(59 * 24 * time.Hour)
	}
	partitions := func() string {
		var names string
		if err := f.pool.QueryRow(ctx, `
			SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_catalog.pg_inherits i
			  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
			 WHERE i.inhparent = 'defender_storage.observation'::regclass AND c.relname LIKE '%2026_0%'`).Scan(&names); err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := partitions(); got != "observation_2026_01,observation_2026_03,observation_2026_05" {
		t.Fatalf("partitions = %s", got)
	}
	daysBefore := f.count(t, `SELECT count(*) FROM defender.scan_agent_daily`)
	asOfJanuary := f.asOf(t, time.Date(2026, 1, 16, 12, 0, 0, 0, time.UTC))

	// A report reads the observations in a long transaction.
	report, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer report.Rollback(ctx)
	if _, err := report.Exec(ctx, `SELECT count(*) FROM defender.scan_agent_observations`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var dropped []string
	go func() {
		var err error
		dropped, err = load.DropObservations(ctx, f.pool, 60*24*time.Hour, time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC), slog.New(slog.NewTextHandler(f.logs, nil)))
		done <- err
	}()
	// While the drop waits for the report, other reads go on.
	for range 3 {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var n int
		err := f.pool.QueryRow(qctx, `SELECT count(*) FROM defender.scan_agent_observations`).Scan(&n)
		cancel()
		if err != nil {
			t.Fatalf("a read during the drop: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := report.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Join(dropped, ",") != "observation_2026_01" {
		t.Fatalf("dropped %v, want January only (March ended less than 60 days before)", dropped)
	}
	if got := partitions(); got != "observation_2026_03,observation_2026_05" {
		t.Fatalf("partitions after the drop = %s", got)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_observations WHERE observed_at < '2026-02-01'`); n != 0 {
		t.Fatalf("%d January observations left", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_daily`); n != daysBefore {
		t.Fatalf("daily rows %d, want %d kept", n, daysBefore)
	}
	if got := f.asOf(t, time.Date(2026, 1, 16, 12, 0, 0, 0, time.UTC)); len(got) != len(asOfJanuary) {
		t.Fatalf("as of January: %d agents after the drop, want %d", len(got), len(asOfJanuary))
	}
	// Nothing more to drop; and too short a retention is refused.
	if again, err := load.DropObservations(ctx, f.pool, 60*24*time.Hour, time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC), nil); err != nil || len(again) != 0 {
		t.Fatalf("second pass dropped %v, %v", again, err)
	}
	if _, err := load.DropObservations(ctx, f.pool, time.Hour, time.Now(), nil); err == nil {
		t.Fatal("a retention of an hour was accepted")
	}
}

// TestRetentionTakesTurnsByLease: a pass finds another process's live
// lease and leaves the work to it; once that lease expired it drops the
// old month and gives the lease back. The advisory lock earlier versions
// took blocks nothing.
func TestRetentionTakesTurnsByLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	f.sync(t, listOf(agents(3)...))
	f.clock.Advance(90 * 24 * time.Hour)
	f.sync(t, listOf(agents(3)...))
	if _, err := f.pool.Exec(ctx, `
		INSERT INTO defender_storage.maintenance_leases VALUES ('observation retention', 'other:1/00000000', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	if dropped, err := load.DropObservations(ctx, f.pool, 48*time.Hour, f.clock.Now(), nil); err != nil || len(dropped) != 0 {
		t.Fatalf("retention while another process holds it: dropped %q, %v; want nothing", dropped, err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.maintenance_leases SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_advisory_lock(x'61676e7472657465'::bigint)`); err != nil {
		t.Fatal(err)
	}
	dropped, err := load.DropObservations(ctx, f.pool, 48*time.Hour, f.clock.Now(), nil)
	if err != nil || len(dropped) != 1 {
		t.Fatalf("retention once the lease expired: dropped %q, %v; want the old month", dropped, err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.maintenance_leases`); n != 0 {
		t.Errorf("%d maintenance leases left after the pass", n)
	}
}
