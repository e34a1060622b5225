package migrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// documentedTables are the tables of the reporting surface; every other
// table of the schema is storage behind the views.
var documentedTables = map[string]bool{"sync_runs": true, "scan_agent_history": true}

// TestReaderRoleHoldsExactlyTheReportingSurface fails when a migration adds
// a view or function without granting it to defender_reader, or grants it
// anything on storage.
func TestReaderRoleHoldsExactlyTheReportingSurface(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	rows, err := pool.Query(context.Background(), `
		SELECT c.relname, c.relkind::text,
		       pg_catalog.has_table_privilege('defender_reader', c.oid, 'SELECT'),
		       pg_catalog.has_table_privilege('defender_reader', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
		UNION ALL
		SELECT p.oid::pg_catalog.regprocedure::text,
		       CASE WHEN coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') LIKE 'Internal%'
		            OR coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), '') LIKE 'Owner only%' THEN 'internal' ELSE 'function' END,
		       pg_catalog.has_function_privilege('defender_reader', p.oid, 'EXECUTE'),
		       pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE')
		  FROM pg_catalog.pg_proc p
		 WHERE p.pronamespace = 'defender'::pg_catalog.regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var problems []string
	views, functions := 0, 0
	for rows.Next() {
		var name, kind string
		var reads, other bool
		if err := rows.Scan(&name, &kind, &reads, &other); err != nil {
			t.Fatal(err)
		}
		switch {
		case kind == "v" || kind == "m" || documentedTables[name]:
			views++
			if !reads {
				problems = append(problems, name+": defender_reader may not read it")
			}
			if other {
				problems = append(problems, name+": defender_reader may change it")
			}
		case kind == "r" || kind == "p":
			if reads || other {
				problems = append(problems, name+": storage granted to defender_reader")
			}
		case kind == "function":
			functions++
			if !reads {
				problems = append(problems, name+": defender_reader may not execute it")
			}
			if other {
				problems = append(problems, name+": executable by everyone")
			}
		case kind == "internal":
			if reads || other {
				problems = append(problems, name+": internal function executable by defender_reader or everyone")
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if views < 8 || functions < 3 {
		t.Fatalf("found %d readable relations and %d functions; the catalog query is wrong", views, functions)
	}
	if len(problems) > 0 {
		t.Errorf("defender_reader's privileges:\n  %s", strings.Join(problems, "\n  "))
	}
}

// TestSchemaDefenderHoldsOnlyWhatReadersRead: a BI navigator lists every
// relation whose name it can see. Schema defender holds the 19 the reader
// may read and nothing else; storage is in defender_storage, which the
// reader may not even look into.
func TestSchemaDefenderHoldsOnlyWhatReadersRead(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	var readable, unreadable []string
	rows, err := pool.Query(ctx, `
		SELECT c.relname::text, pg_catalog.has_table_privilege('defender_reader', c.oid, 'SELECT')
		  FROM pg_catalog.pg_class c
		 WHERE c.relnamespace = 'defender'::pg_catalog.regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var reads bool
		if err := rows.Scan(&name, &reads); err != nil {
			t.Fatal(err)
		}
		if reads {
			readable = append(readable, name)
		} else {
			unreadable = append(unreadable, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(readable) != 19 || len(unreadable) > 0 {
		t.Errorf("schema defender lists %d relations the reader may read and %d it may not (%s); want 19 and none",
			len(readable), len(unreadable), strings.Join(unreadable, ", "))
	}
	var usage, storageGrants bool
	if err := pool.QueryRow(ctx, `
		SELECT pg_catalog.has_schema_privilege('defender_reader', 'defender_storage', 'USAGE'),
		       EXISTS (SELECT FROM pg_catalog.pg_class c
		                WHERE c.relnamespace = 'defender_storage'::pg_catalog.regnamespace
		                  AND pg_catalog.has_table_privilege('defender_reader', c.oid, 'SELECT'))`).Scan(&usage, &storageGrants); err != nil {
		t.Fatal(err)
	}
	if usage || storageGrants {
		t.Errorf("defender_reader: USAGE on defender_storage %v, SELECT on a storage table %v; want neither", usage, storageGrants)
	}
}

// TestReaderIsRefusedWritesAndStorage logs in as a member of
// defender_reader: the reporting surface answers, everything else is
// refused.
func TestReaderIsRefusedWritesAndStorage(t *testing.T) {
	t.Parallel()
	reader := dbtest.ReaderPool(t, dbtest.URL(t))
	ctx := context.Background()
	for _, q := range []string{
		`SELECT count(*) FROM defender.scan_agents`,
		`SELECT count(*) FROM defender.scan_agents_as_of(now())`,
		`SELECT count(*) FROM defender.fleet_daily`,
		`SELECT defender.version_key('10.1')`,
		`SELECT count(*) FROM defender.scan_definitions`,
		`SELECT count(*) FROM defender.scan_definition_history`,
		`SELECT count(*) FROM defender.scan_definition_changes`,
		`SELECT count(*) FROM defender.scan_sessions`,
		`SELECT count(*) FROM defender.scan_targets`,
		`SELECT count(*) FROM defender.scan_coverage`,
		`SELECT count(*) FROM defender.scan_target_status`,
		`SELECT defender.scan_outcome('Partial Success')`,
	} {
		if _, err := reader.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		`SELECT count(*) FROM defender_storage.agent_state`,
		`SELECT count(*) FROM defender_storage.agent_heartbeat`,
		`SELECT count(*) FROM defender_storage.observation`,
		`SELECT count(*) FROM defender_storage.withheld_deletions`,
		`SELECT count(*) FROM defender_storage.tenants`,
		`SELECT count(*) FROM defender_storage.definition_state`,
		`SELECT count(*) FROM defender_storage.definition_version`,
		`SELECT count(*) FROM defender_storage.definition_withheld`,
		`SELECT count(*) FROM defender_storage.session_result`,
		`SELECT count(*) FROM defender_storage.target_result`,
		`SELECT count(*) FROM defender_storage.session_target`,
		`SELECT count(*) FROM defender_storage.scan_target`,
		`SELECT count(*) FROM defender_storage.target_coverage`,
		`SELECT count(*) FROM defender_storage.sync_run`,
		`SELECT count(*) FROM defender_storage.sync_worker`,
		`INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at) VALUES (1, 'a', now())`,
		`UPDATE defender.scan_agent_history SET valid_to = now()`,
		`DELETE FROM defender_storage.sync_run`,
		`SELECT defender_storage.ensure_observation_partition(now())`,
		`SELECT defender_storage.refresh_fleet_daily('x', current_date)`,
		`SELECT defender.grant_reader_access()`,
		`CREATE TABLE defender.mine (x int)`,
	} {
		_, err := reader.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: err = %v, want permission denied", q, err)
		}
	}
	// defender.sync_runs is a view over the runs' storage: no one writes
	// through it.
	for _, q := range []string{
		`INSERT INTO defender.sync_runs (tenant_id, started_at) VALUES ('x', now())`,
		`DELETE FROM defender.sync_runs`,
	} {
		if _, err := reader.Exec(ctx, q); err == nil {
			t.Errorf("%s was accepted", q)
		}
	}
}
