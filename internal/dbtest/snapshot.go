package dbtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DataTables are the tables (qualified names) that hold agent data: a failed sync,
// or a sync of unchanged data, must leave them exactly as they were.
var DataTables = []string{"defender_storage.agent_state", "defender_storage.agent_heartbeat",
	"defender.scan_agent_history", "defender_storage.observation",
	"defender_storage.withheld_deletions", "defender_storage.agent_daily"}

// ScanTables are the tables that hold scan definitions and
// history: a failed sync of definitions or history, or a sync of unchanged
// ones, must leave them exactly as they were.
var ScanTables = []string{"defender_storage.definition_state", "defender_storage.definition_version",
	"defender_storage.definition_withheld", "defender_storage.session_result",
	"defender_storage.scan_target", "defender_storage.session_target", "defender_storage.target_coverage"}

// RollupTables are the tables every successful sync rewrites (the tenant's
// day and latest sync); a failed sync must leave them as they were.
var RollupTables = []string{"defender_storage.tenant_daily", "defender_storage.tenants"}

// RowVersions renders every row of the given tables (qualified names) with its row
// version (xmin) and position (ctid). Equal renderings mean that no row was
// inserted, updated or deleted, not even rewritten with the same values.
func RowVersions(t testing.TB, pool *pgxpool.Pool, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tables {
		fmt.Fprintf(&b, "-- %s\n", table)
		renderRows(t, pool, &b, fmt.Sprintf(`SELECT t.xmin::text || ' ' || t.ctid::text || ' ' || t::text FROM %s t ORDER BY t.ctid`, table))
	}
	return b.String()
}

// renderRows writes the one text column of each row query returns to b,
// a line each.
func renderRows(t testing.TB, pool *pgxpool.Pool, b *strings.Builder, query string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
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
}
