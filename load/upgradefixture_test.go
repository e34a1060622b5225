package load_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// TestWriteUpgradeFixture writes, when AGENTSYNC_WRITE_UPGRADE_FIXTURE names
// a file, the data of a database filled by this version's loader: two
// tenants, a week of irregular syncs with changes, deletions, returns,
// withheld deletions, unreadable agents and failed runs. The migrations'
// upgrade test loads it into a database at this schema version and checks
// that later migrations keep what it means.
func TestWriteUpgradeFixture(t *testing.T) {
	out := os.Getenv("AGENTSYNC_WRITE_UPGRADE_FIXTURE")
	if out == "" {
		t.Skip("set AGENTSYNC_WRITE_UPGRADE_FIXTURE=<file> to write the upgrade fixture")
	}
	ctx := context.Background()
	pool := dbtest.Pool(t)
	clk := &clock{now: time.Date(2026, 10, 26, 22, 0, 0, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(42, 4242))
	for ti, tenantID := range []string{"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"} {
		l, err := load.New(pool, load.Config{TenantID: tenantID, Now: clk.Now, Worker: "fixture",
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		present := map[int]scanagent.Record{}
		known := map[int]scanagent.Record{}
		for i := range 20 {
			r := agent(i + 100*ti)
			r.LastSeen = clk.Now().Add(-time.Duration(rng.IntN(600)) * time.Minute)
			if i == 3 {
				r.LastSeen = time.Time{}
			}
			present[i] = r
		}
		for step := range 40 {
			clk.Advance(time.Duration(20+rng.IntN(360)) * time.Minute)
			next := map[int]scanagent.Record{}
			massVanish := step%13 == 12
			for i := range 30 {
				r, ok := present[i]
				if !ok {
					prev, wasKnown := known[i]
					switch {
					case wasKnown && rng.IntN(3) == 0:
						r, ok = prev, true
					case !wasKnown && rng.IntN(10) == 0:
						r, ok = agent(i+100*ti), true
						r.LastSeen = clk.Now().Add(-time.Minute)
					}
				} else if rng.IntN(14) == 0 || (massVanish && rng.IntN(10) < 8) {
					ok = false
				}
				if !ok {
					continue
				}
				if i != 3 && rng.IntN(4) != 0 {
					r.LastSeen = clk.Now().Add(-time.Duration(rng.IntN(90)) * time.Minute).Truncate(time.Microsecond)
				}
				mutate(rng, &r)
				next[i] = r
			}
			var records []scanagent.Record
			var unreadable []string
			for i, r := range next {
				if step%9 == 4 && i%7 == 1 {
					unreadable = append(unreadable, r.ID) // listed but unreadable: kept as it was
					continue
				}
				records = append(records, r)
			}
			list := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
				st := scanagent.ListStats{Requests: 1 + len(records)/10, Pages: 1, Rejected: len(unreadable), RejectedIDs: unreadable}
				for _, r := range records {
					if err := fn(r); err != nil {
						return st, err
					}
					st.Agents++
				}
				if step%11 == 6 {
					return st, fmt.Errorf("page 2: connection reset")
				}
				return st, nil
			}
			res, err := l.Sync(ctx, list)
			if step%11 == 6 {
				if err == nil {
					t.Fatal("the failing sync succeeded")
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s step %d: %v", tenantID, step, err)
			}
			if res.DeletionsWithheld == 0 {
				present = map[int]scanagent.Record{}
			}
			for i, r := range next {
				present[i] = r
				known[i] = r
			}
			if step == 20 {
				r := present[5]
				r.Extra = map[string]json.RawMessage{"osPlatform": json.RawMessage(`"Linux"`), "rbacGroupId": json.RawMessage(`7`)}
				present[5] = r
			}
		}
		clk.Advance(-30 * time.Hour) // the second tenant's week overlaps the first's
	}
	var db string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pg_dump", "--data-only", "--schema=defender", "--inserts", "--column-inserts",
		"--no-owner", "--no-privileges", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-f", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, b)
	}
}
