package load_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/pooling"
)

// TestPreparedStatementsStoreTheSame syncs the interleaved tenants
// (syncInterleavedTenants: 16 rounds of every resource, past the five
// executions after which the server may keep a statement's generic plan)
// through a pool whose statements stay prepared, as agentsync runs on a
// direct connection (pooling.DirectExecMode), and through one that
// describes them, as through a pooler, and compares every row of every
// table and view.
func TestPreparedStatementsStoreTheSame(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stored := func(mode pgx.QueryExecMode) string {
		t.Helper()
		unmigrated, p := dbtest.Unmigrated(t)
		if _, err := p.UpTo(ctx, goose.MaxVersion); err != nil {
			t.Fatal(err)
		}
		cfg := unmigrated.Config()
		cfg.ConnConfig.DefaultQueryExecMode = mode
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		syncInterleavedTenants(t, pool, goose.MaxVersion)
		var relations []string
		if err := pool.QueryRow(ctx, `
			SELECT array_agg(oid::regclass::text ORDER BY oid::regclass::text)
			  FROM pg_catalog.pg_class
			 WHERE relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace) AND relkind IN ('r', 'v')`).Scan(&relations); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range relations {
			fmt.Fprintf(&b, "%s:\n%s", r, dbtest.Answer(t, pool, fmt.Sprintf(`SELECT v::text FROM %s v`, r)))
		}
		return b.String()
	}
	want := stored(pooling.DefaultExecMode)
	if n := strings.Count(want, "\n"); n < 1000 {
		t.Fatalf("%d rows in all: the fixture is too thin", n)
	}
	if got := stored(pooling.DirectExecMode); got != want {
		t.Errorf("with prepared statements the syncs store otherwise than with described ones: %s", dbtest.FirstDifference(want, got))
	}
}
