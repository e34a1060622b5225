package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/scanagent"
)

// TestReplayAsOfReproducesEverySnapshot is a property test: over random
// sequences of snapshots (changes, vanishing, returning, mass vanishing,
// failed syncs), after every sync scan_agents_as_of at each earlier
// successful run's time returns exactly what that run saw.
func TestReplayAsOfReproducesEverySnapshot(t *testing.T) {
	t.Parallel()
	var total replayStats
	t.Run("seeds", func(t *testing.T) {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				s := replay(t, seed, 30)
				t.Logf("%+v", s)
				mu.Lock()
				total.add(s)
				mu.Unlock()
			})
		}
	})
	// The sequences must have exercised every kind of event, or the
	// property says little.
	if total.succeeded == 0 || total.failed == 0 || total.changed == 0 || total.deleted == 0 ||
		total.returned == 0 || total.withheld == 0 {
		t.Fatalf("the random sequences missed an event kind: %+v", total)
	}
}

var mu sync.Mutex

type replayStats struct {
	succeeded, failed, changed, deleted, returned, withheld int
}

func (s *replayStats) add(o replayStats) {
	s.succeeded += o.succeeded
	s.failed += o.failed
	s.changed += o.changed
	s.deleted += o.deleted
	s.returned += o.returned
	s.withheld += o.withheld
}

type snapshotAt struct {
	at   time.Time
	rows []string
}

func replay(t *testing.T, seed uint64, steps int) replayStats {
	var stats replayStats
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	f := setup(t)
	const pool = 40
	present := map[int]scanagent.Record{}
	known := map[int]scanagent.Record{}
	for i := range 25 {
		present[i] = agent(i)
	}
	var snapshots []snapshotAt

	for step := range steps {
		gap := time.Duration(1+rng.IntN(120)) * time.Minute
		if rng.IntN(6) == 0 { // a day or two without syncs
			gap += time.Duration(20+rng.IntN(30)) * time.Hour
		}
		f.clock.Advance(gap)
		next := map[int]scanagent.Record{}
		massVanish := rng.IntN(10) == 0
		for i := range pool {
			r, ok := present[i]
			if !ok {
				prev, wasKnown := known[i]
				switch {
				case wasKnown && rng.IntN(3) == 0: // returns
					r, ok = prev, true
				case !wasKnown && rng.IntN(8) == 0: // new
					r, ok = agent(i), true
				}
			} else if rng.IntN(10) == 0 || (massVanish && rng.IntN(10) < 8) {
				ok = false // vanishes
			}
			if !ok {
				continue
			}
			mutate(rng, &r)
			next[i] = r
		}

		records := make([]scanagent.Record, 0, len(next))
		for _, r := range next {
			records = append(records, r)
		}
		rng.Shuffle(len(records), func(a, b int) { records[a], records[b] = records[b], records[a] })

		if rng.IntN(6) == 0 { // a failing sync: must change nothing
			cut := rng.IntN(len(records) + 1)
			if _, err := f.loader.Sync(context.Background(), failingList(errors.New("page broke"), records[:cut]...)); err == nil {
				t.Fatalf("step %d: failing sync succeeded", step)
			}
			stats.failed++
		} else {
			res := f.sync(t, listOf(records...))
			stats.succeeded++
			stats.changed += res.Changed
			stats.deleted += res.Deleted
			stats.withheld += res.DeletionsWithheld
			for i := range next {
				if _, was := present[i]; !was && known[i].ID != "" {
					stats.returned++
				}
			}
			if res.DeletionsWithheld == 0 {
				present = next
			} else {
				// Withheld agents stay active; they are simply not in
				// this run's snapshot.
				for i, r := range next {
					present[i] = r
				}
			}
			for i, r := range next {
				known[i] = r
			}
			snapshots = append(snapshots, snapshotAt{at: res.FetchedAt, rows: expectedRows(records)})
		}

		for k, s := range snapshots {
			if got := f.asOf(t, s.at); !slices.Equal(got, s.rows) {
				t.Fatalf("seed %d step %d: scan_agents_as_of(run %d at %s) differs from that run's snapshot\n got: %v\nwant: %v",
					seed, step, k, s.at, got, s.rows)
			}
			// Any time up to the next run answers with the same snapshot.
			if got := f.asOf(t, s.at.Add(30*time.Second)); !slices.Equal(got, s.rows) {
				t.Fatalf("seed %d step %d: as of 30s after run %d differs", seed, step, k)
			}
		}
		// The daily rollups agree with what the runs saw, day by day.
		if m := dbtest.RollupMismatches(t, f.pool); len(m) > 0 {
			t.Fatalf("seed %d step %d: daily rollups differ from their definition:\n%s", seed, step, strings.Join(m, "\n"))
		}
	}
	if len(snapshots) > 0 {
		if got := f.asOf(t, snapshots[0].at.Add(-time.Second)); len(got) != 0 {
			t.Fatalf("before the first run: %d agents, want none", len(got))
		}
	}
	return stats
}

func mutate(rng *rand.Rand, r *scanagent.Record) {
	if rng.IntN(3) == 0 {
		r.LastSeen = r.LastSeen.Add(time.Duration(rng.IntN(3600)) * time.Second)
	}
	if rng.IntN(20) == 0 {
		r.LastSeen = time.Time{}
	}
	if rng.IntN(5) == 0 {
		r.LastCommandExecutionAt = r.LastCommandExecutionAt.Add(time.Hour)
	}
	switch rng.IntN(12) {
	case 0:
		r.MDEClientVersion = scanagent.Version(fmt.Sprintf("10.8295.22621.%d", 1000+rng.IntN(5)))
	case 1:
		r.ScannerSoftwareVersion = []scanagent.Version{"7.1.1", "7.6.0.0", ""}[rng.IntN(3)]
	case 2:
		r.ComputerDNSName = fmt.Sprintf("host-%d", rng.IntN(5))
	case 3:
		r.Extra = map[string]json.RawMessage{"OsPlatform": json.RawMessage(fmt.Sprintf(`"Windows%d"`, 10+rng.IntN(2)))}
	case 4:
		r.Extra = nil
	}
}

// expectedRows renders records as scan_agents_as_of rows, in asOf's format.
func expectedRows(records []scanagent.Record) []string {
	rows := make([]string, 0, len(records))
	for _, r := range records {
		extra := []byte("{}")
		if len(r.Extra) > 0 {
			extra, _ = json.Marshal(r.Extra)
		}
		rows = append(rows, row(tenant, r.ID, r.MachineID, r.ComputerDNSName, r.AssignedApplicationID,
			string(r.ScannerSoftwareVersion), string(r.MDEClientVersion), r.LastSeen, r.LastCommandExecutionAt, extra))
	}
	slices.Sort(rows)
	return rows
}

func row(tenant, id, machine, dns, app, scanner, mde string, lastSeen, lastCommand time.Time, extra []byte) string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	}
	var v any
	if err := json.Unmarshal(extra, &v); err != nil {
		panic(err)
	}
	canonical, _ := json.Marshal(v)
	return strings.Join([]string{tenant, id, machine, dns, app, scanner, mde, ts(lastSeen), ts(lastCommand), string(canonical)}, "|")
}

func (f *fixture) asOf(t testing.TB, at time.Time) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `
		SELECT tenant_id, agent_id, coalesce(machine_id, ''), coalesce(computer_dns_name, ''),
		       coalesce(assigned_application_id, ''), coalesce(scanner_software_version, ''),
		       coalesce(mde_client_version, ''), last_seen, last_command_execution_at, extra
		  FROM defender.scan_agents_as_of($1)`, at)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var tenantID, id, machine, dns, app, scanner, mde string
		var lastSeen, lastCommand *time.Time
		var extra []byte
		if err := rows.Scan(&tenantID, &id, &machine, &dns, &app, &scanner, &mde, &lastSeen, &lastCommand, &extra); err != nil {
			t.Fatal(err)
		}
		deref := func(p *time.Time) time.Time {
			if p == nil {
				return time.Time{}
			}
			return *p
		}
		out = append(out, row(tenantID, id, machine, dns, app, scanner, mde, deref(lastSeen), deref(lastCommand), extra))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
