package report

import (
	"context"
	"slices"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// TestVersionsSortAsTheDatabaseSortsThem: compareVersions orders versions
// as ORDER BY defender.version_key(v) NULLS FIRST, v does.
func TestVersionsSortAsTheDatabaseSortsThem(t *testing.T) {
	t.Parallel()
	versions := []string{"10.8295.22621.1195", "10.8295.22621.1010", "10.10000.0.0", "10.8295.22631.1062", "7.6.0", "7.6",
		"7.6.0.1", "007.6.1", "beta", "", "10.8295.22621.999", "1.2.3-rc1", "10", "9.99", "10.0.1", "Alpha"}
	pool := dbtest.Pool(t)
	var want []string
	if err := pool.QueryRow(context.Background(),
		`SELECT array_agg(v ORDER BY defender.version_key(v) NULLS FIRST, v COLLATE "C") FROM unnest($1::text[]) v`, versions).Scan(&want); err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(versions)
	slices.SortFunc(got, compareVersions)
	if !slices.Equal(got, want) {
		t.Errorf("sorted\n got %q\nwant %q", got, want)
	}
}
