package dbtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DataTables are the defender tables that hold agent data: a failed sync,
// or a sync of unchanged data, must leave them exactly as they were.
var DataTables = []string{"agent_state", "heartbeat_block", "scan_agent_history", "observation_block",
	"withheld_deletions", "agent_daily"}

// ScanTables are the defender tables that hold scan definitions and
// history: a failed sync of definitions or history, or a sync of unchanged
// ones, must leave them exactly as they were.
var ScanTables = []string{"definition_state", "definition_version", "definition_withheld", "session_result",
	"target_result", "target_coverage"}

// RollupTables are the tables every successful sync rewrites (the tenant's
// day and latest sync); a failed sync must leave them as they were.
var RollupTables = []string{"tenant_daily", "tenants"}

// RowVersions renders every row of the given defender tables with its row
// version (xmin) and position (ctid). Equal renderings mean that no row was
// inserted, updated or deleted, not even rewritten with the same values.
func RowVersions(t testing.TB, pool *pgxpool.Pool, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tables {
		rows, err := pool.Query(context.Background(),
			fmt.Sprintf(`SELECT t.xmin::text || ' ' || t.ctid::text || ' ' || t::text FROM defender.%s t ORDER BY t.ctid`, table))
		if err != nil {
			t.Fatalf("read defender.%s: %v", table, err)
		}
		fmt.Fprintf(&b, "-- %s\n", table)
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
	return b.String()
}
