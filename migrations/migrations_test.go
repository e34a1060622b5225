package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/migrations"
)

// openEmpty opens a database with no migration applied.
func openEmpty(t *testing.T) *sql.DB {
	t.Helper()
	return openURL(t, dbtest.EmptyURL(t))
}

// openMigrated opens a database with every migration applied.
func openMigrated(t *testing.T) *sql.DB {
	t.Helper()
	return openURL(t, dbtest.URL(t))
}

func openURL(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// execOrFail runs q and stops the test when it fails.
func execOrFail(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// contractRelations are the tables, views and functions users query; their
// names must never change.
var contractRelations = []string{"scan_agents", "scan_agent_history", "scan_agent_observations", "sync_runs",
	"scan_definitions", "scan_definition_history", "scan_definition_changes", "scan_sessions", "scan_targets",
	"scan_coverage", "scan_target_status"}

func TestUpDownUpAndStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openEmpty(t)
	p, err := migrations.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up from empty: %v", err)
	}
	requireRelations(t, db, contractRelations, true)

	statuses, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) == 0 {
		t.Fatal("status lists no migrations")
	}
	for _, s := range statuses {
		if s.State != goose.StateApplied {
			t.Errorf("migration %s is %s after up", s.Source.Path, s.State)
		}
	}

	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down to zero: %v", err)
	}
	requireRelations(t, db, contractRelations, false)
	if v, err := p.GetDBVersion(ctx); err != nil || v != 0 {
		t.Fatalf("version after down to zero = %d, %v; want 0", v, err)
	}

	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	requireRelations(t, db, contractRelations, true)
}

func requireRelations(t *testing.T, db *sql.DB, names []string, exist bool) {
	t.Helper()
	for _, name := range names {
		var found bool
		err := db.QueryRow(`SELECT pg_catalog.to_regclass('defender.' || $1) IS NOT NULL`, name).Scan(&found)
		if err != nil {
			t.Fatal(err)
		}
		if found != exist {
			t.Errorf("defender.%s exists = %v, want %v", name, found, exist)
		}
	}
}

// TestEveryObjectHasAComment checks that BI tools show a description for
// every table, view, column and function of the schema.
func TestEveryObjectHasAComment(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)

	rows, err := db.Query(`
		SELECT c.relname || coalesce('.' || a.attname, '')
		  FROM pg_catalog.pg_class c
		  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		  LEFT JOIN pg_catalog.pg_attribute a
		         ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		 WHERE n.nspname = 'defender' AND c.relkind IN ('r', 'v', 'p', 'm') AND NOT c.relispartition
		   AND pg_catalog.col_description(c.oid, coalesce(a.attnum, 0)) IS NULL
		   AND (a.attnum IS NOT NULL OR pg_catalog.obj_description(c.oid, 'pg_class') IS NULL)
		UNION ALL
		SELECT p.proname || '()'
		  FROM pg_catalog.pg_proc p
		  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'defender' AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		missing = append(missing, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("objects without COMMENT ON:\n  %s", strings.Join(missing, "\n  "))
	}
}

// TestHistoryRangesCannotOverlap checks that the database itself refuses
// two overlapping versions of one agent.
func TestHistoryRangesCannotOverlap(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	execOrFail(t, db, `INSERT INTO defender.tenants (tenant_id) VALUES ('t')`)
	execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, started_at, fetched_at, finished_at, status)
	          VALUES ('t', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded')`)
	execOrFail(t, db, `INSERT INTO defender.agent_state (tenant_id, agent_id, first_seen_at, first_seen_run_id, active_since)
	          VALUES ('t', 'a', '2026-01-01', 1, '2026-01-01')`)
	execOrFail(t, db, `INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	          VALUES (1, 't', 'a', '2026-01-01', '2026-01-05', 1, 1)`)
	// Touching ranges are fine: [1, 5) and [5, ...).
	execOrFail(t, db, `INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, opened_by_run_id)
	          VALUES (1, 't', 'a', '2026-01-05', 1)`)
	_, err := db.Exec(`INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	                  VALUES (1, 't', 'a', '2026-01-03', '2026-01-04', 1, 1)`)
	if err == nil || !strings.Contains(err.Error(), "scan_agent_history_no_overlap") {
		t.Fatalf("overlapping insert: err = %v, want the exclusion constraint to refuse it", err)
	}
}

// TestRangeChecksRefuseWhatRowChecksRefuse: the reference and overlap
// checks look a statement's keys up as one range when they lie close
// together; a key missing inside that range, or an overlap between
// versions written together, is still refused and named.
func TestRangeChecksRefuseWhatRowChecksRefuse(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	refused := func(q, constraint, detail string) {
		t.Helper()
		_, err := db.Exec(q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.ConstraintName != constraint || !strings.Contains(pgErr.Detail, detail) {
			t.Errorf("%s: err = %v, want %s refusing it (%q)", q, err, constraint, detail)
		}
	}
	execOrFail(t, db, `INSERT INTO defender.tenants (tenant_id) VALUES ('t')`)
	execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, started_at, fetched_at, finished_at, status)
	          VALUES ('t', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded')`)
	// Statements of 512 rows and more are checked by ranges, smaller ones
	// row by row: both are tried.
	refused(`INSERT INTO defender.agent_state (tenant_id, agent_id, first_seen_at, first_seen_run_id, active_since)
	         SELECT 't', 'a' || r, '2026-01-01', 1 + r / 1000, '2026-01-01' FROM generate_series(1, 1000) r`,
		"agent_state_first_seen_run_id", "Key (first_seen_run_id)=(2) is not present")
	// Agents 1 to 3000 but 1500: a gap, as a failed sync leaves.
	execOrFail(t, db, `INSERT INTO defender.agent_state (agent_key, tenant_id, agent_id, first_seen_at, first_seen_run_id, active_since)
	          OVERRIDING SYSTEM VALUE
	          SELECT k, 't', 'a' || k, '2026-01-01', 1, '2026-01-01' FROM generate_series(1, 3000) k WHERE k <> 1500`)

	daily := `INSERT INTO defender.agent_daily (agent_key, day, run_id, synced_at, syncs_observed) `
	refused(daily+`SELECT k, '2026-01-01', 1, '2026-01-01', 1 FROM generate_series(1, 1600) k`,
		"agent_daily_agent_key", "Key (agent_key)=(1500) is not present")
	refused(daily+`VALUES (1, '2026-01-01', 1, '2026-01-01', 1), (3001, '2026-01-01', 1, '2026-01-01', 1)`,
		"agent_daily_agent_key", "Key (agent_key)=(3001) is not present")
	execOrFail(t, db, daily+`SELECT k, '2026-01-01', 1, '2026-01-01', 1 FROM generate_series(1, 1000) k`)
	execOrFail(t, db, daily+`SELECT k, '2026-01-01', 1, '2026-01-01', 1 FROM generate_series(1001, 3000) k WHERE k <> 1500`)

	history := `INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, valid_to, opened_by_run_id, closed_by_run_id) `
	refused(history+`SELECT k, 't', 'a' || k, '2026-01-01', NULL, 1, NULL FROM generate_series(1, 1600) k`,
		"scan_agent_history_agent_key", "Key (agent_key)=(1500) is not present")
	refused(history+`SELECT k, 't', 'a' || k, '2026-01-01', NULL, 2, NULL FROM generate_series(1, 1000) k`,
		"scan_agent_history_opened_by_run_id", "Key (opened_by_run_id)=(2) is not present")
	refused(history+`SELECT k, 't', 'a' || k, '2026-01-01', NULL, 2, NULL FROM generate_series(1, 2) k`,
		"scan_agent_history_opened_by_run_id", "Key (opened_by_run_id)=(2) is not present")
	// First versions of agents 1 to 1600: the range holds no other version.
	execOrFail(t, db, history+`SELECT k, 't', 'a' || k, '2026-01-01', NULL, 1, NULL FROM generate_series(1, 1600) k WHERE k <> 1500`)
	// Versions starting while the first ones are open, many and few.
	refused(history+`SELECT k, 't', 'a' || k, '2026-01-03', NULL, 1, NULL FROM generate_series(1, 1000) k`,
		"scan_agent_history_no_overlap", "overlap in time")
	refused(history+`SELECT k, 't', 'a' || k, '2026-01-03', NULL, 1, NULL FROM generate_series(1, 2) k`,
		"scan_agent_history_no_overlap", "overlap in time")
	// Two overlapping versions of agent 1601, written in one statement with
	// the first versions of agents 1602 to 2400.
	refused(history+`SELECT 1601, 't', 'a1601', timestamptz '2026-01-01', timestamptz '2026-01-05', 1, 1
	                 UNION ALL SELECT k, 't', 'a' || k, '2026-01-03', NULL, 1, NULL FROM generate_series(1601, 2400) k`,
		"scan_agent_history_no_overlap", "Two versions of agent 1601 overlap")
	// The same without the overlap is accepted.
	execOrFail(t, db, history+`SELECT 1601, 't', 'a1601', timestamptz '2026-01-01', timestamptz '2026-01-03', 1, 1
	                    UNION ALL SELECT k, 't', 'a' || k, '2026-01-03', NULL, 1, NULL FROM generate_series(1601, 2400) k`)
}

// TestHeartbeatBlocksBelongToTheirTenant: a heartbeat block holds 64
// timestamps of each kind, belongs to a tenant that has an agent in it
// when it is first written, never changes its tenant or block, and keeps
// the agents whose heartbeat it holds from being deleted.
func TestHeartbeatBlocksBelongToTheirTenant(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	refused := func(q, detail string) {
		t.Helper()
		_, err := db.Exec(q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message+" "+pgErr.Detail, detail) {
			t.Errorf("%s: err = %v, want it refused (%q)", q, err, detail)
		}
	}
	execOrFail(t, db, `INSERT INTO defender.tenants (tenant_id) VALUES ('t'), ('u')`)
	execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, started_at, fetched_at, finished_at, status)
	          VALUES ('t', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded')`)
	// Agents 1 and 2 of tenant t (block 0), 70 of tenant u (block 1).
	execOrFail(t, db, `INSERT INTO defender.agent_state (agent_key, tenant_id, agent_id, first_seen_at, first_seen_run_id, active_since)
	          OVERRIDING SYSTEM VALUE
	          VALUES (1, 't', 'a1', '2026-01-01', 1, '2026-01-01'), (2, 't', 'a2', '2026-01-01', 1, '2026-01-01'),
	                 (70, 'u', 'a70', '2026-01-01', 1, '2026-01-01')`)
	block := func(tenant string, block int, slot int) string {
		return fmt.Sprintf(`INSERT INTO defender.heartbeat_block (tenant_id, block, last_seen, last_command_execution_at)
		        SELECT '%s', %d, a, a FROM (SELECT array_agg(CASE WHEN i = %d THEN timestamptz '2026-01-01' END ORDER BY i) a
		                                     FROM generate_series(0, 63) i) x`, tenant, block, slot)
	}
	refused(block("x", 0, 1), "Key (tenant_id)=(x) is not present")
	refused(block("u", 0, 1), "Block 0 holds no agent of tenant u")
	refused(block("t", 1, 6), "Block 1 holds no agent of tenant t")
	refused(`INSERT INTO defender.heartbeat_block VALUES ('t', 0, '{2026-01-01}', '{2026-01-01}')`, "heartbeat_block_slots")
	execOrFail(t, db, block("t", 0, 1))
	execOrFail(t, db, block("u", 1, 6))
	refused(`UPDATE defender.heartbeat_block SET last_seen = last_seen[1:63] WHERE tenant_id = 't'`, "heartbeat_block_slots")
	refused(`UPDATE defender.heartbeat_block SET block = 2 WHERE tenant_id = 't'`, "cannot change")
	refused(`UPDATE defender.heartbeat_block SET tenant_id = 'u' WHERE tenant_id = 't'`, "cannot change")

	var seen time.Time
	if err := db.QueryRow(`SELECT last_seen FROM defender.scan_agents WHERE agent_id = 'a1'`).Scan(&seen); err != nil || !seen.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("scan_agents: last_seen of a1 = %v, %v; want its slot, 2026-01-01", seen, err)
	}
	// Agent 1 has a heartbeat stored, agent 2 none.
	refused(`DELETE FROM defender.agent_state WHERE agent_key = 1`, "Key (agent_key)=(1) still has a heartbeat")
	execOrFail(t, db, `DELETE FROM defender.agent_state WHERE agent_key = 2`)
}

// TestReferencedKeysAreUnique: the reference checks count a range of
// referenced keys, which holds every key named only when the referenced
// column is unique, as a foreign key's must be.
func TestReferencedKeysAreUnique(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	rows, err := db.Query(`
		WITH args AS (
			SELECT tg.tgname, pg_catalog.string_to_array(pg_catalog.encode(tg.tgargs, 'escape'), '\000') AS a
			  FROM pg_catalog.pg_trigger tg
			 WHERE tg.tgfoid = 'defender.check_references()'::pg_catalog.regprocedure
		)
		SELECT args.tgname, args.a[3 * i + 2], args.a[3 * i + 3],
		       EXISTS (SELECT FROM pg_catalog.pg_index x
		                WHERE x.indrelid = args.a[3 * i + 2]::pg_catalog.regclass AND x.indisunique
		                  AND x.indnkeyatts = 1 AND x.indpred IS NULL
		                  AND x.indkey[0] = (SELECT attnum FROM pg_catalog.pg_attribute
		                                      WHERE attrelid = args.a[3 * i + 2]::pg_catalog.regclass
		                                        AND attname = args.a[3 * i + 3]))
		  FROM args, pg_catalog.generate_series(0, pg_catalog.cardinality(args.a) / 3 - 1) i`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	checked := 0
	for rows.Next() {
		var trigger, table, column string
		var unique bool
		if err := rows.Scan(&trigger, &table, &column, &unique); err != nil {
			t.Fatal(err)
		}
		checked++
		if !unique {
			t.Errorf("trigger %s references %s(%s), which is not unique", trigger, table, column)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("found %d references to check, want the schema's", checked)
	}
}

// TestDefinitionVersionsCannotOverlap checks that the database itself
// refuses two overlapping versions of one scan definition, and a second
// running run of one tenant's resource while allowing one per resource.
func TestDefinitionVersionsCannotOverlap(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	execOrFail(t, db, `INSERT INTO defender.tenants (tenant_id) VALUES ('t')`)
	execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, resource, started_at, fetched_at, finished_at, status)
	          VALUES ('t', 'definitions', '2026-01-01', '2026-01-01', '2026-01-01', 'succeeded')`)
	execOrFail(t, db, `INSERT INTO defender.definition_state (tenant_id, definition_id, first_seen_at, first_seen_run_id)
	          VALUES ('t', 'd', '2026-01-01', 1)`)
	execOrFail(t, db, `INSERT INTO defender.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	          VALUES (1, '2026-01-01', '2026-01-05', 1, 1)`)
	execOrFail(t, db, `INSERT INTO defender.definition_version (definition_key, valid_from, opened_by_run_id) VALUES (1, '2026-01-05', 1)`)
	_, err := db.Exec(`INSERT INTO defender.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	                  VALUES (1, '2026-01-03', '2026-01-04', 1, 1)`)
	if err == nil || !strings.Contains(err.Error(), "definition_version_no_overlap") {
		t.Fatalf("overlapping insert: err = %v, want the exclusion constraint to refuse it", err)
	}

	for _, resource := range []string{"agents", "definitions", "history"} {
		execOrFail(t, db, `INSERT INTO defender.sync_runs (tenant_id, resource, started_at) VALUES ('t', '`+resource+`', now())`)
	}
	_, err = db.Exec(`INSERT INTO defender.sync_runs (tenant_id, resource, started_at) VALUES ('t', 'history', now())`)
	if err == nil || !strings.Contains(err.Error(), "sync_runs_one_running_per_tenant") {
		t.Fatalf("second running history run: err = %v, want the unique index to refuse it", err)
	}
	_, err = db.Exec(`INSERT INTO defender.sync_runs (tenant_id, resource, started_at) VALUES ('t', 'scans', now())`)
	if err == nil {
		t.Fatal("a run of an unknown resource was accepted")
	}
	_, err = db.Exec(`INSERT INTO defender.target_result (session_key, ordinal) VALUES (42, 0)`)
	if err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("target of a missing session: err = %v", err)
	}
}

// TestScanOutcomeReadsEverySpelling: the statuses Defender sends read as
// success, partial or failure.
func TestScanOutcomeReadsEverySpelling(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	for status, want := range map[string]string{
		"Success": "success", "SUCCESS": "success", "Fail": "failure", "Failure": "failure", "failed": "failure",
		"Partial Success": "partial", "PartialSuccess": "partial", "partial_success": "partial", "Running": "",
	} {
		var got sql.NullString
		if err := db.QueryRow(`SELECT defender.scan_outcome($1)`, status).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got.String != want {
			t.Errorf("scan_outcome(%q) = %q, want %q", status, got.String, want)
		}
	}
}
