package dbtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
)

func TestPoolHasEmptySearchPathAndMigratedSchema(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	var searchPath string
	if err := pool.QueryRow(ctx, "SHOW search_path").Scan(&searchPath); err != nil {
		t.Fatal(err)
	}
	if searchPath != `""` && searchPath != "" {
		t.Fatalf("search_path = %q, want empty", searchPath)
	}
	// Unqualified names must not resolve.
	_, err := pool.Exec(ctx, "SELECT count(*) FROM sync_runs")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unqualified query: err = %v, want relation does not exist", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM defender.sync_runs").Scan(&n); err != nil {
		t.Fatalf("qualified query: %v", err)
	}
}

func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	t.Parallel()
	a, b := dbtest.URL(t), dbtest.URL(t)
	if a == b {
		t.Fatalf("two calls returned the same database %q", a)
	}
}

func TestParseURLNeverQuotesTheURL(t *testing.T) {
	t.Parallel()
	_, err := dbtest.ParseURLForTest("postgres://u:PwLeak@host:bad port/db")
	if err == nil || strings.Contains(err.Error(), "PwLeak") {
		t.Fatalf("err = %v, want an error without the password", err)
	}
}
