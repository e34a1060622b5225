package load_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/logtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// TestFirstSyncAfterTheFingerprintUpgrade: on history written before
// agents had fingerprints (schema 6, filled from the schema-2 fixture and
// upgraded), the first sync of the same listing compares every agent in
// full and finds nothing changed: no version, no change, no deletion; it
// stores the fingerprints, and the next identical sync writes nothing.
func TestFirstSyncAfterTheFingerprintUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.SchemaTwoHistory(t)
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}

	const tenant = "contoso.onmicrosoft.com"
	var records []scanagent.Record
	rows, err := pool.Query(ctx, `
		SELECT agent_id, coalesce(machine_id, ''), coalesce(computer_dns_name, ''), coalesce(assigned_application_id, ''),
		       coalesce(scanner_software_version, ''), coalesce(mde_client_version, ''), last_seen, last_command_execution_at, extra
		  FROM defender.scan_agents WHERE tenant_id = $1 AND deleted_at IS NULL`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r scanagent.Record
		var lastSeen, lastCmd pgtype.Timestamptz
		var extra map[string]json.RawMessage
		if err := rows.Scan(&r.ID, &r.MachineID, &r.ComputerDNSName, &r.AssignedApplicationID,
			&r.ScannerSoftwareVersion, &r.MDEClientVersion, &lastSeen, &lastCmd, &extra); err != nil {
			t.Fatal(err)
		}
		r.LastSeen, r.LastCommandExecutionAt = lastSeen.Time, lastCmd.Time
		if len(extra) > 0 {
			r.Extra = extra
		}
		records = append(records, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(records) < 10 {
		t.Fatalf("the fixture has %d active agents; too thin", len(records))
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	versions := count(`SELECT count(*) FROM defender.scan_agent_history`)
	var last time.Time
	if err := pool.QueryRow(ctx, `SELECT max(fetched_at) FROM defender.sync_runs`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	now := last.Add(time.Hour)
	l, err := load.New(pool, load.Config{TenantID: tenant, Worker: "test", Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(&logtest.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}

	res, err := l.Sync(ctx, listOf(records...))
	if err != nil {
		t.Fatalf("first sync after the upgrade: %v", err)
	}
	if res.Unchanged != len(records) || res.Changed+res.Inserted+res.Deleted+res.DeletionsWithheld != 0 {
		t.Fatalf("first sync after the upgrade: %+v, want all %d agents unchanged", res, len(records))
	}
	if n := count(`SELECT count(*) FROM defender.scan_agent_history`); n != versions {
		t.Fatalf("%d history versions after the sync, want the %d stored before", n, versions)
	}
	if n := count(`SELECT count(*) FROM defender_storage.agent_state WHERE tenant_id = '` + tenant + `' AND deleted_at IS NULL AND fingerprint IS NULL`); n != 0 {
		t.Fatalf("%d active agents of the synced tenant still without a fingerprint", n)
	}
	if n := count(`SELECT count(*) FROM defender_storage.agent_state WHERE tenant_id <> '` + tenant + `' AND fingerprint IS NOT NULL`); n != 0 {
		t.Fatalf("the sync stored fingerprints of %d agents of another tenant", n)
	}
	if m := dbtest.RollupMismatches(t, pool); len(m) > 0 {
		t.Fatalf("daily rollups differ from their definition:\n%s", strings.Join(m, "\n"))
	}

	before := dbtest.RowVersions(t, pool, dbtest.DataTables...)
	now = now.Add(time.Hour)
	if res, err = l.Sync(ctx, listOf(records...)); err != nil || res.Unchanged != len(records) {
		t.Fatalf("second sync: %+v, %v", res, err)
	}
	if after := dbtest.RowVersions(t, pool, dbtest.DataTables...); after != before {
		t.Fatal("the second identical sync after the upgrade wrote rows")
	}
}
