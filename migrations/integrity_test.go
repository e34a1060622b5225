package migrations_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// integritySeed is one valid row, or two, in every table of the schema:
// the rows the bad statements of TestEveryConstraintRefusesABadRow change.
// Its run, agent, version and session that are deleted, closed or updated
// give every nullable reference a row that holds it.
const integritySeed = `
INSERT INTO defender_storage.tenants (tenant_id) VALUES ('t');
INSERT INTO defender_storage.sync_worker (worker) VALUES ('w');
INSERT INTO defender_storage.sync_run (run_id, tenant_no, resource, started_at, fetched_at, finished_at, status, worker_no)
OVERRIDING SYSTEM VALUE VALUES
    (1, 1, 'a', '2026-01-01 10:00Z', '2026-01-01 10:00Z', '2026-01-01 10:01Z', 's', 1),
    (2, 1, 'a', '2026-01-02 10:00Z', '2026-01-02 10:00Z', '2026-01-02 10:01Z', 's', 1),
    (3, 1, 'd', '2026-01-01 10:00Z', '2026-01-01 10:00Z', '2026-01-01 10:01Z', 's', 1),
    (4, 1, 'h', '2026-01-01 10:00Z', '2026-01-01 10:00Z', '2026-01-01 10:01Z', 's', 1);
UPDATE defender_storage.sync_run SET previous_sync_at = '2026-01-01 10:00Z' WHERE run_id = 2;
UPDATE defender_storage.tenants SET last_run_id = 2, last_fetched_at = '2026-01-02 10:00Z';
INSERT INTO defender_storage.agent_state
    (agent_key, tenant_id, agent_no, agent_id, first_seen_at, first_seen_run_id, active_since, deleted_at, deleted_by_run_id)
OVERRIDING SYSTEM VALUE VALUES
    (1, 't', 1, 'a1', '2026-01-01 10:00Z', 1, '2026-01-01 10:00Z', NULL, NULL),
    (2, 't', 2, 'a2', '2026-01-01 10:00Z', 1, '2026-01-01 10:00Z', '2026-01-02 10:00Z', 2);
INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, valid_to, opened_by_run_id, closed_by_run_id) VALUES
    (1, 't', 'a1', '2026-01-01 10:00Z', NULL, 1, NULL),
    (2, 't', 'a2', '2026-01-01 10:00Z', '2026-01-02 10:00Z', 1, 2);
INSERT INTO defender_storage.agent_daily (agent_key, day, run_id, synced_at, syncs_observed)
VALUES (1, '2026-01-01', 1, '2026-01-01 10:00Z', 1);
INSERT INTO defender_storage.agent_heartbeat (agent_key, last_seen, last_command_execution_at)
VALUES (1, '2026-01-01', NULL), (2, '2026-01-01', '2026-01-01');
SELECT defender_storage.ensure_observation_partition('2026-01-01 10:00Z');
INSERT INTO defender_storage.observation (observed_at, run_id, agent_nos, last_seen, last_command_execution_at)
VALUES ('2026-01-01 10:00Z', 1, '{1,2}', '{2026-01-01,2026-01-01}', '{NULL,2026-01-01}');
INSERT INTO defender_storage.withheld_deletions (agent_key, run_id) VALUES (1, 2);
INSERT INTO defender_storage.tenant_daily (tenant_id, day, run_id, synced_at, first_synced_at, syncs)
VALUES ('t', '2026-01-01', 1, '2026-01-01 10:00Z', '2026-01-01 10:00Z', 1);
INSERT INTO defender_storage.tenant_daily_version (tenant_id, day, mde_client_version, agents)
VALUES ('t', '2026-01-01', '10.8295.22621.1010', 2);
INSERT INTO defender_storage.definition_state
    (definition_key, tenant_id, definition_id, first_seen_at, first_seen_run_id, deleted_at, deleted_by_run_id)
OVERRIDING SYSTEM VALUE VALUES (1, 't', 'd1', '2026-01-01 10:00Z', 3, '2026-01-01 10:00Z', 3);
INSERT INTO defender_storage.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
VALUES (1, '2026-01-01 09:00Z', '2026-01-01 10:00Z', 3, 3);
INSERT INTO defender_storage.definition_withheld (definition_key, run_id) VALUES (1, 3);
INSERT INTO defender_storage.session_result
    (session_key, tenant_id, definition_id, session_id, scanned_at, source, recorded_at, recorded_by_run_id,
     updated_at, updated_by_run_id, targets_run_id)
OVERRIDING SYSTEM VALUE VALUES
    (1, 't', 'd1', 's1', '2026-01-01 09:00Z', 'history', '2026-01-01 10:00Z', 4, '2026-01-01 10:00Z', 4, 4);
INSERT INTO defender_storage.scan_target (tenant_no, ip) VALUES (1, '10.0.0.1');
INSERT INTO defender_storage.session_target (session_key, ordinal, target_no) VALUES (1, 0, 1);
INSERT INTO defender_storage.target_coverage (tenant_id, target, definition_id, latest_session_key, latest_ordinal, last_success_session_key)
VALUES ('t', '10.0.0.1', 'd1', 1, 0, 1);
SELECT defender_storage.refresh_target_status('t');
INSERT INTO defender_storage.tenant_leases (tenant_id, holder, expires_at) VALUES ('t', 'h', '2026-01-01 10:05Z');
INSERT INTO defender_storage.maintenance_leases (task, holder, expires_at) VALUES ('x', 'h', '2026-01-01 10:05Z');
INSERT INTO defender_storage.tenant_access (role_oid, role_name, tenant_id) VALUES (10, 'r', 't');
INSERT INTO defender_storage.definition_coverage (tenant_id, definition_id, latest_scanned_at, consecutive_failures)
VALUES ('t', 'd1', '2026-01-01 10:00Z', 0);
INSERT INTO defender_storage.scan_history_dropped (tenant_id, dropped_before, through_run_id, sessions, dropped_at)
VALUES ('t', '2025-12-01 00:00Z', 3, 1, '2026-01-01 10:00Z');
SELECT defender_storage.record_run_digest(1);
SELECT defender_storage.record_run_digest(2);
SELECT defender_storage.record_run_digest(3);
SELECT defender_storage.record_run_digest(4);
INSERT INTO defender_storage.sync_run (run_id, tenant_no, resource, started_at, fetched_at, finished_at, status, worker_no)
OVERRIDING SYSTEM VALUE VALUES (20, 1, 'h', '2026-01-03 10:00Z', '2026-01-03 10:00Z', '2026-01-03 10:01Z', 's', 1);
SELECT defender_storage.record_run_digest(20);
INSERT INTO defender_storage.runs_dropped (tenant_no, resource, previous_run_id, previous_dropped_run_id, first_run_id, last_run_id,
                                           runs, first_fetched_at, last_fetched_at, dropped_before, dropped_at, digest, links)
VALUES (1, 'h', 4, NULL, 10, 10, 1, '2026-01-01 11:00Z', '2026-01-01 11:00Z', '2026-01-02 00:00Z', '2026-02-01 00:00Z',
        sha256(''), decode(repeat('00', 41), 'hex')),
       (1, 'h', NULL, 10, 11, 12, 2, '2026-01-01 12:00Z', '2026-01-01 13:00Z', '2026-01-02 00:00Z', '2026-02-01 00:00Z',
        sha256(''), decode(repeat('00', 82), 'hex'));
UPDATE defender_storage.run_digest SET previous_run_id = NULL, previous_dropped_run_id = 12 WHERE run_id = 20;
INSERT INTO defender_storage.run_retention_progress (tenant_no, through_run_id, looked_at) VALUES (1, 12, '2026-02-01 00:00Z');
`

// constraintViolations are the bad statements for the rules the generic
// ones (a missing key, a negative count, an empty name) cannot make: one
// statement per constraint, each breaking that rule alone.
var constraintViolations = map[string]string{
	"agent_daily_synced_that_day":      `UPDATE defender_storage.agent_daily SET synced_at = synced_at + interval '2 days'`,
	"agent_state_deleted_by_run":       `UPDATE defender_storage.agent_state SET deleted_at = now() WHERE deleted_at IS NULL`,
	"agent_state_extra_check":          `UPDATE defender_storage.agent_state SET extra = '[]'`,
	"definition_state_deleted_by_run":  `UPDATE defender_storage.definition_state SET deleted_by_run_id = NULL`,
	"definition_state_extra_check":     `UPDATE defender_storage.definition_state SET extra = '"x"'`,
	"definition_version_closed_by_run": `UPDATE defender_storage.definition_version SET closed_by_run_id = NULL`,
	"definition_version_range_order":   `UPDATE defender_storage.definition_version SET valid_to = valid_from`,
	"definition_version_no_overlap": `INSERT INTO defender_storage.definition_version (definition_key, valid_from, valid_to, opened_by_run_id, closed_by_run_id)
		SELECT definition_key, valid_from + interval '1 second', valid_to, opened_by_run_id, closed_by_run_id FROM defender_storage.definition_version`,
	"agent_state_agent_no_check":  `UPDATE defender_storage.agent_state SET agent_no = 0 WHERE agent_key = 1`,
	"observation_arrays_match":    `UPDATE defender_storage.observation SET last_seen = last_seen || last_seen`,
	"observation_agent_nos_valid": `UPDATE defender_storage.observation SET agent_nos = '{2,1}'`,
	// The one rule no constraint states: the agent numbers in an
	// observation's array name agents of its tenant (docs/schema.md).
	"defender_storage.observation:observation_agents_exist": `UPDATE defender_storage.observation SET agent_nos = '{1,3}'`,
	"defender_storage.agent_state:observation_agents_exist": `UPDATE defender_storage.agent_state SET agent_no = 9 WHERE agent_key = 1`,
	"scan_agent_history_closed_by_run":                      `UPDATE defender.scan_agent_history SET valid_to = now() WHERE valid_to IS NULL`,
	"scan_agent_history_range_order":                        `UPDATE defender.scan_agent_history SET valid_to = valid_from WHERE valid_to IS NOT NULL`,
	"scan_agent_history_no_overlap": `INSERT INTO defender.scan_agent_history (agent_key, tenant_id, agent_id, valid_from, opened_by_run_id)
		SELECT agent_key, tenant_id, agent_id, valid_from + interval '1 hour', opened_by_run_id FROM defender.scan_agent_history WHERE agent_key = 2`,
	"run_digest_digest_check":                     `UPDATE defender_storage.run_digest SET digest = '\x00' WHERE run_id = 1`,
	"run_digest_parts_check":                      `UPDATE defender_storage.run_digest SET parts = digest WHERE run_id = 1`,
	"run_digest_run_id_fkey":                      `UPDATE defender_storage.run_digest SET run_id = -1 WHERE run_id = 3`,
	"run_digest_previous_before":                  `UPDATE defender_storage.run_digest SET previous_run_id = 4 WHERE run_id = 2`,
	"run_digest_chains_one":                       `UPDATE defender_storage.run_digest SET previous_run_id = 4 WHERE run_id = 20`,
	"run_digest_previous_dropped_before":          `UPDATE defender_storage.run_digest SET previous_dropped_run_id = 12 WHERE run_id = 4`,
	"runs_dropped_chains_one":                     `UPDATE defender_storage.runs_dropped SET previous_run_id = 4 WHERE last_run_id = 12`,
	"runs_dropped_in_order":                       `UPDATE defender_storage.runs_dropped SET last_fetched_at = dropped_before WHERE last_run_id = 10`,
	"runs_dropped_links":                          `UPDATE defender_storage.runs_dropped SET links = substr(links, 1, 40) WHERE last_run_id = 10`,
	"runs_dropped_digest":                         `UPDATE defender_storage.runs_dropped SET digest = '\x00'::bytea WHERE last_run_id = 10`,
	"runs_dropped_previous_before":                `UPDATE defender_storage.runs_dropped SET previous_run_id = NULL, previous_dropped_run_id = 12 WHERE last_run_id = 10`,
	"runs_dropped_resource":                       `UPDATE defender_storage.runs_dropped SET resource = 'x'`,
	"run_retention_progress_through_run_id_check": `UPDATE defender_storage.run_retention_progress SET through_run_id = 0`,
	"runs_dropped_computed_at_upgrade":            `UPDATE defender_storage.runs_dropped SET runs_computed_at_upgrade = 3 WHERE last_run_id = 12`,
	"runs_dropped_runs":                           `UPDATE defender_storage.runs_dropped SET first_run_id = last_run_id WHERE last_run_id = 12`,
	"runs_dropped_no_overlap": `INSERT INTO defender_storage.runs_dropped (tenant_no, resource, first_run_id, last_run_id, runs, first_fetched_at,
	                                  last_fetched_at, dropped_before, dropped_at, digest, links)
	                           VALUES (1, 'h', 9, 11, 2, '2026-01-01 11:00Z', '2026-01-01 12:00Z', '2026-01-02 00:00Z', '2026-02-01 00:00Z',
	                                   sha256(''), decode(repeat('00', 82), 'hex'))`,
	"scan_history_dropped_through_run_id_check": `UPDATE defender_storage.scan_history_dropped SET through_run_id = 0`,
	"session_write_values_digest_check":         `UPDATE defender_storage.session_write SET values_digest = '\x00'`,
	"session_result_extra_check":                `UPDATE defender_storage.session_result SET extra = 'null'`,
	"session_result_known":                      `UPDATE defender_storage.session_result SET session_id = NULL, scanned_at = NULL`,
	"session_result_source_check":               `UPDATE defender_storage.session_result SET source = 'rumour'`,
	"session_result_updated_by_run":             `UPDATE defender_storage.session_result SET updated_at = NULL`,
	"sync_run_failed_has_error":                 `UPDATE defender_storage.sync_run SET status = 'f' WHERE run_id = 1`,
	"sync_run_finished_iff_done":                `UPDATE defender_storage.sync_run SET finished_at = NULL WHERE run_id = 1`,
	"sync_run_heartbeat_only_of_agents":         `UPDATE defender_storage.sync_run SET heartbeat_only = 1 WHERE run_id = 3`,
	"sync_run_previous_before_fetch":            `UPDATE defender_storage.sync_run SET previous_sync_at = fetched_at WHERE run_id = 2`,
	"sync_run_resource":                         `UPDATE defender_storage.sync_run SET resource = 's' WHERE run_id = 1`,
	"sync_run_status_check":                     `UPDATE defender_storage.sync_run SET status = 'd' WHERE run_id = 1`,
	"sync_run_succeeded_has_fetch":              `UPDATE defender_storage.sync_run SET fetched_at = NULL WHERE run_id = 1`,
	"sync_run_time_order":                       `UPDATE defender_storage.sync_run SET finished_at = started_at - interval '1 hour' WHERE run_id = 1`,
	"session_target_extra_check":                `UPDATE defender_storage.session_target SET extra = '1'`,
	"target_status_latest_target":               `UPDATE defender_storage.target_status SET latest_ordinal = 1`,
	// The only target is target_status's latest: a new one breaks the key.
	"session_target_session_key_fkey":        `INSERT INTO defender_storage.session_target (session_key, ordinal, target_no) VALUES (-1, 0, 1)`,
	"tenant_daily_mde_client_versions_check": `UPDATE defender_storage.tenant_daily SET mde_client_versions = '[]'`,
	"tenant_daily_synced_that_day":           `UPDATE defender_storage.tenant_daily SET first_synced_at = synced_at + interval '1 second'`,
	"tenant_daily_syncs_check":               `UPDATE defender_storage.tenant_daily SET syncs = 0`,
	"tenant_daily_version_agents_check":      `UPDATE defender_storage.tenant_daily_version SET agents = 0`,
	"tenant_daily_version_day_fkey":          `UPDATE defender_storage.tenant_daily_version SET day = day + 1`,
	"tenants_last_run_has_time":              `UPDATE defender_storage.tenants SET last_fetched_at = NULL`,
}

var (
	nonNegative = regexp.MustCompile(`^CHECK \(\(\(?([a-z_0-9]+) >= 0\)?\)\)$`)
	nonEmpty    = regexp.MustCompile(`^CHECK \(\(([a-z_0-9]+) <> ''::text\)\)$`)
)

// TestEveryConstraintRefusesABadRow: the rules of the schema are declared
// constraints, and each refuses a row that breaks it with PostgreSQL's own
// error (SQLSTATE 23503 for a foreign key, 23P01 for an exclusion, 23514
// for a check) naming it; so does the one constraint trigger. Every foreign key, exclusion and check of the
// schema is tried, each on a row of a seeded database that holds every
// other rule, in a transaction rolled back after it.
func TestEveryConstraintRefusesABadRow(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	execOrFail(t, db, integritySeed)

	rows, err := db.Query(`
		SELECT c.conname, c.contype::text, c.conrelid::regclass::text, pg_catalog.pg_get_constraintdef(c.oid),
		       coalesce((SELECT a.attname::text FROM pg_catalog.pg_attribute a
		                  WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]), ''),
		       coalesce((SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
		                  WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]), ''),
		       coalesce(pg_catalog.cardinality(c.conkey), 0)
		  FROM pg_catalog.pg_constraint c
		  JOIN pg_catalog.pg_class r ON r.oid = c.conrelid
		 WHERE r.relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace)
		   AND NOT r.relispartition AND c.contype IN ('f', 'x', 'c', 't')
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	type constraint struct{ name, kind, table, def, column, typ string }
	var all []constraint
	for rows.Next() {
		var c constraint
		var columns int
		if err := rows.Scan(&c.name, &c.kind, &c.table, &c.def, &c.column, &c.typ, &columns); err != nil {
			t.Fatal(err)
		}
		if _, given := constraintViolations[c.name]; c.kind == "f" && columns != 1 && !given {
			t.Errorf("%s: a foreign key of %d columns; add its bad row to constraintViolations", c.name, columns)
			continue
		}
		all = append(all, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(all) < 60 {
		t.Fatalf("found %d constraints; the catalog query is wrong", len(all))
	}

	wantState := map[string]string{"f": "23503", "x": "23P01", "c": "23514", "t": "23503"}
	tried := map[string]bool{}
	for _, c := range all {
		key := c.name
		if c.kind == "t" { // a constraint trigger's name is its table's
			key = c.table + ":" + c.name
		}
		stmt, ok := constraintViolations[key]
		switch {
		case ok:
		case c.kind == "f":
			missing := "-1"
			if c.typ == "text" {
				missing = "'no such key'"
			}
			stmt = fmt.Sprintf(`UPDATE %s SET %s = %s WHERE %s = (SELECT %s FROM %s WHERE %s IS NOT NULL LIMIT 1)`,
				c.table, c.column, missing, c.column, c.column, c.table, c.column)
		case nonNegative.MatchString(c.def):
			stmt = fmt.Sprintf(`UPDATE %s SET %s = -1`, c.table, nonNegative.FindStringSubmatch(c.def)[1])
		case nonEmpty.MatchString(c.def):
			stmt = fmt.Sprintf(`UPDATE %s SET %s = ''`, c.table, nonEmpty.FindStringSubmatch(c.def)[1])
		default:
			t.Errorf("%s (%s): no bad row tries it; add one to constraintViolations", c.name, c.def)
			continue
		}
		tried[key] = true
		t.Run(key, func(t *testing.T) {
			affected, err := inRolledBack(db, stmt)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("%s\nchanged %d rows and was accepted (err %v); want %s to refuse it", stmt, affected, err, c.name)
			}
			if pgErr.Code != wantState[c.kind] || pgErr.ConstraintName != c.name {
				t.Errorf("%s\nrefused with SQLSTATE %s by %q (%s); want %s by %s",
					stmt, pgErr.Code, pgErr.ConstraintName, pgErr.Message, wantState[c.kind], c.name)
			}
		})
	}
	for name := range constraintViolations {
		if !tried[name] {
			t.Errorf("constraintViolations names %s, which the schema does not have", name)
		}
	}
}

// inRolledBack runs stmt in a transaction it rolls back, and returns the
// rows it changed.
func inRolledBack(db *sql.DB, stmt string) (int64, error) {
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(stmt)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// TestNoTriggerImitatesAConstraint: the schema's rules are constraints the
// catalog shows; the only trigger checks the one rule no constraint can
// state, is a constraint trigger named for it, and docs/schema.md says why.
func TestNoTriggerImitatesAConstraint(t *testing.T) {
	t.Parallel()
	db := openMigrated(t)
	rows, err := db.Query(`
		SELECT tg.tgrelid::regclass::text, tg.tgname, tg.tgconstraint <> 0
		  FROM pg_catalog.pg_trigger tg
		  JOIN pg_catalog.pg_class r ON r.oid = tg.tgrelid
		 WHERE NOT tg.tgisinternal AND NOT r.relispartition
		   AND r.relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace)
		 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	docs, err := os.ReadFile(filepath.Join("..", "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for rows.Next() {
		var table, name string
		var constraint bool
		if err := rows.Scan(&table, &name, &constraint); err != nil {
			t.Fatal(err)
		}
		found = append(found, table+": "+name)
		switch {
		case name != "observation_agents_exist":
			t.Errorf("%s: trigger %s; a rule a constraint can state is declared as one", table, name)
		case !constraint:
			t.Errorf("%s: trigger %s is not a constraint trigger", table, name)
		case !strings.Contains(string(docs), "`"+name+"`"):
			t.Errorf("docs/schema.md does not explain the trigger %s", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "defender_storage.agent_state: observation_agents_exist defender_storage.observation: observation_agents_exist"; strings.Join(found, " ") != want {
		t.Errorf("triggers: %s\nwant %s", strings.Join(found, ", "), want)
	}
}
