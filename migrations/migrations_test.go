package migrations_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

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

// TestDefinitionVersionsCannotOverlap checks that the database itself
// refuses two overlapping versions of one scan definition, and a second
// running run of one tenant's resource while allowing one per resource.
func TestDefinitionVersionsCannotOverlap(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	execOrFail(t, db, `INSERT INTO defender_storage.tenants (tenant_id) VALUES ('t')`)
	execOrFail(t, db, `INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, fetched_at, finished_at, status)
	          VALUES (1, 'd', '2026-01-01', '2026-01-01', '2026-01-01', 's')`)
	execOrFail(t, db, `INSERT INTO defender_storage.definition_state (tenant_id, definition_id, first_seen_at, first_seen_run_id)
	          VALUES ('t', 'd', '2026-01-01', 1)`)
	execOrFail(t, db, `INSERT INTO defender_storage.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	          VALUES (1, '2026-01-01', '2026-01-05', 1, 1)`)
	execOrFail(t, db, `INSERT INTO defender_storage.definition_version (definition_key, valid_from, opened_by_run_id) VALUES (1, '2026-01-05', 1)`)
	_, err := db.Exec(`INSERT INTO defender_storage.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
	                  VALUES (1, '2026-01-03', '2026-01-04', 1, 1)`)
	if err == nil || !strings.Contains(err.Error(), "definition_version_no_overlap") {
		t.Fatalf("overlapping insert: err = %v, want the exclusion constraint to refuse it", err)
	}

	for _, resource := range []string{"a", "d", "h"} {
		execOrFail(t, db, `INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at) VALUES (1, '`+resource+`', now())`)
	}
	_, err = db.Exec(`INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at) VALUES (1, 'h', now())`)
	if err == nil || !strings.Contains(err.Error(), "sync_run_one_running_per_tenant") {
		t.Fatalf("second running history run: err = %v, want the unique index to refuse it", err)
	}
	_, err = db.Exec(`INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at) VALUES (1, defender_storage.run_resource_code('scans'), now())`)
	if err == nil {
		t.Fatal("a run of an unknown resource was accepted")
	}
	_, err = db.Exec(`INSERT INTO defender_storage.session_target (session_key, ordinal, target_no) VALUES (42, 0, 1)`)
	if err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("target of a missing session: err = %v", err)
	}
}

// TestTargetFingerprintTellsTargetsApart: scan_target's fingerprint is
// one for one triple of address, host name and description, and differs
// between triples a naive joining would confuse: NULL and empty, a field's
// text moved into the next, backslashes and what bytea's input would read
// as hex or octal; and the database generates it from the fields.
func TestTargetFingerprintTellsTargetsApart(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	triples := [][3]sql.NullString{}
	for _, tr := range [][3]*string{
		{nil, nil, nil}, {ptr(""), nil, nil}, {nil, ptr(""), nil}, {nil, nil, ptr("")}, {ptr(""), ptr(""), ptr("")},
		{ptr("10.0.0.1"), ptr("a"), ptr("b")}, {ptr("10.0.0.1a"), ptr(""), ptr("b")}, {ptr("10.0.0.1"), ptr("ab"), ptr("")},
		{ptr("1:x"), nil, nil}, {ptr("-"), nil, nil}, {ptr(`\x41`), nil, nil}, {ptr(`\\x41`), nil, nil}, {ptr("A"), nil, nil},
		{ptr(`\101`), nil, nil}, {ptr("é"), nil, nil}, {ptr("e\u0301"), nil, nil},
	} {
		var row [3]sql.NullString
		for i, f := range tr {
			if f != nil {
				row[i] = sql.NullString{String: *f, Valid: true}
			}
		}
		triples = append(triples, row)
	}
	seen := map[string]int{}
	for i, tr := range triples {
		var fp []byte
		if err := db.QueryRow(`SELECT defender_storage.target_fingerprint($1, $2, $3)`, tr[0], tr[1], tr[2]).Scan(&fp); err != nil {
			t.Fatal(err)
		}
		var again []byte
		if err := db.QueryRow(`SELECT defender_storage.target_fingerprint($1, $2, $3)`, tr[0], tr[1], tr[2]).Scan(&again); err != nil {
			t.Fatal(err)
		}
		if len(fp) != 32 || string(fp) != string(again) {
			t.Fatalf("%v: fingerprint %x, then %x", tr, fp, again)
		}
		if j, dup := seen[string(fp)]; dup {
			t.Errorf("%v and %v have the same fingerprint", triples[j], tr)
		}
		seen[string(fp)] = i
	}
	execOrFail(t, db, `INSERT INTO defender_storage.tenants (tenant_id) VALUES ('t')`)
	execOrFail(t, db, `INSERT INTO defender_storage.scan_target (tenant_no, ip, hostname) VALUES (1, '10.0.0.1', 'a')`)
	_, err := db.Exec(`INSERT INTO defender_storage.scan_target (tenant_no, ip, hostname) VALUES (1, '10.0.0.1', 'a')`)
	if err == nil || !strings.Contains(err.Error(), "scan_target_once") {
		t.Fatalf("the same target twice: err = %v, want scan_target_once to refuse it", err)
	}
	execOrFail(t, db, `INSERT INTO defender_storage.scan_target (tenant_no, ip, hostname, description) VALUES (1, '10.0.0.1', 'a', '')`)
}

func ptr(s string) *string { return &s }

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
	// NULL for NULL, as when the function was declared STRICT; so for
	// version_key.
	var outcome, key sql.NullString
	if err := db.QueryRow(`SELECT defender.scan_outcome(NULL), defender.version_key(NULL)::text`).Scan(&outcome, &key); err != nil || outcome.Valid || key.Valid {
		t.Errorf("scan_outcome(NULL), version_key(NULL) = %v, %v (err %v), want NULL, NULL", outcome, key, err)
	}
}

// TestOutcomeAndVersionKeyAreInlined: PostgreSQL inlines
// defender.scan_outcome and defender.version_key into the queries that
// use them (a call per row cost more than the expression), and a query of
// outcomes still reads the expression index on scan_outcome.
func TestOutcomeAndVersionKeyAreInlined(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := openMigrated(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Any index that can answer is read.
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	plan := func(query string) string {
		t.Helper()
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			b.WriteString(line + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if p := plan(`EXPLAIN (VERBOSE, COSTS OFF)
		SELECT defender.scan_outcome(status), defender.version_key(scanner_id) FROM defender_storage.session_result`); strings.Contains(p, "scan_outcome(") || strings.Contains(p, "version_key(") {
		t.Errorf("a function is called, not inlined:\n%s", p)
	}
	if p := plan(`EXPLAIN (COSTS OFF)
		SELECT session_key FROM defender_storage.session_result
		 WHERE tenant_id = 't' AND definition_id = 'd' AND defender.scan_outcome(status) = 'success' AND scanned_at IS NOT NULL
		 ORDER BY scanned_at DESC LIMIT 1`); !strings.Contains(p, "session_result_by_outcome") {
		t.Errorf("the latest success of a definition does not read session_result_by_outcome:\n%s", p)
	}
}
