package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/logtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

const tenant = "contoso.onmicrosoft.com"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a settable test clock; every read during one sync returns the
// same instant, and tests advance it between syncs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

type fixture struct {
	pool   *pgxpool.Pool
	url    string
	loader *load.Loader
	clock  *clock
	logs   *logtest.Buffer
}

func setup(t testing.TB, mutate ...func(*load.Config)) *fixture {
	t.Helper()
	url := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := &fixture{pool: pool, url: url, clock: &clock{now: t0}, logs: &logtest.Buffer{}}
	cfg := load.Config{
		TenantID: tenant,
		Logger:   slog.New(slog.NewTextHandler(f.logs, nil)),
		Now:      f.clock.Now,
		Worker:   "test",
	}
	for _, m := range mutate {
		m(&cfg)
	}
	l, err := load.New(f.pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.loader = l
	return f
}

// listOf is a complete listing of records.
func listOf(records ...scanagent.Record) scanagent.ListFunc {
	return func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		stats := scanagent.ListStats{Requests: 1, Pages: 1}
		for _, r := range records {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			if err := fn(r); err != nil {
				return stats, err
			}
			stats.Agents++
		}
		return stats, nil
	}
}

// failingList yields records and then fails, like a fetch whose later page
// broke.
func failingList(err error, records ...scanagent.Record) scanagent.ListFunc {
	return func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		stats, lerr := listOf(records...)(ctx, fn)
		if lerr != nil {
			return stats, lerr
		}
		return stats, err
	}
}

func agent(i int) scanagent.Record {
	return scanagent.Record{
		ID:                     fmt.Sprintf("47df41a0-0000-4fd6-bbea-%012d_%08x", i, i*7919),
		MachineID:              fmt.Sprintf("machine%04d", i),
		ComputerDNSName:        fmt.Sprintf("scanner-%03d.contoso.local", i),
		AssignedApplicationID:  "9E0FA0EB-0A51-4357-9C87-C21BFBE07571",
		ScannerSoftwareVersion: "7.1.1",
		MDEClientVersion:       "10.8295.22621.1010",
		LastSeen:               t0.Add(-time.Duration(i) * time.Minute),
		LastCommandExecutionAt: t0.Add(-time.Duration(i) * time.Hour),
	}
}

func agents(n int) []scanagent.Record {
	out := make([]scanagent.Record, n)
	for i := range out {
		out[i] = agent(i)
	}
	return out
}

func (f *fixture) sync(t testing.TB, list scanagent.ListFunc) load.Result {
	t.Helper()
	res, err := f.loader.Sync(context.Background(), list)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// snapshot renders the data tables with their row versions.
func (f *fixture) snapshot(t testing.TB) string {
	t.Helper()
	return dbtest.RowVersions(t, f.pool, dbtest.DataTables...)
}

type runRow struct {
	Status                                                string
	Seen, Inserted, Changed, Unchanged, Deleted, Withheld int
	HeartbeatOnly, RecordsChanged, FieldsRepaired         int
	Rejected, Requests                                    int
	Error                                                 *string
}

func (f *fixture) run(t testing.TB, runID int64) runRow {
	t.Helper()
	var r runRow
	err := f.pool.QueryRow(context.Background(), `
		SELECT status, agents_seen, agents_inserted, agents_changed, agents_unchanged,
		       agents_deleted, deletions_withheld, agents_rejected, api_requests, error,
		       agents_heartbeat_only, records_changed, fields_repaired
		  FROM defender.sync_runs WHERE run_id = $1`, runID).Scan(
		&r.Status, &r.Seen, &r.Inserted, &r.Changed, &r.Unchanged, &r.Deleted, &r.Withheld, &r.Rejected, &r.Requests, &r.Error,
		&r.HeartbeatOnly, &r.RecordsChanged, &r.FieldsRepaired)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewConfigValidation(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	for _, cfg := range []load.Config{
		{},
		{TenantID: "  "},
		{TenantID: "t", MaxDeletedFraction: 1.5},
		{TenantID: "t", MaxDeletedCount: -1},
		{TenantID: "t", SyncTimeout: -time.Second},
	} {
		if _, err := load.New(pool, cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
	l, err := load.New(pool, load.Config{TenantID: " Contoso.COM "})
	if err != nil {
		t.Fatal(err)
	}
	if l.TenantID() != "contoso.com" {
		t.Errorf("tenant = %q, want it trimmed and lower case", l.TenantID())
	}
}

func TestSyncInsertsNewAgents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(5)
	recs[4].LastSeen, recs[4].LastCommandExecutionAt = time.Time{}, time.Time{} // never seen
	recs[3].Extra = map[string]json.RawMessage{"OsPlatform": json.RawMessage(`"Windows11"`)}

	res := f.sync(t, listOf(recs...))
	if res.Seen != 5 || res.Inserted != 5 || res.Changed != 0 || res.Unchanged != 0 || res.Deleted != 0 {
		t.Fatalf("result = %+v", res)
	}
	if got := f.run(t, res.RunID); got.Status != "succeeded" || got.Inserted != 5 || got.Seen != 5 || got.Requests != 1 {
		t.Fatalf("run row = %+v", got)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE deleted_at IS NULL AND first_seen_at = $1 AND last_synced_at = $1`, t0); n != 5 {
		t.Errorf("active agents first seen and synced at t0 = %d, want 5", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE valid_from = $1 AND valid_to IS NULL`, t0); n != 5 {
		t.Errorf("open history rows = %d, want 5", n)
	}
	// The agent with neither timestamp has nothing to observe.
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_observations WHERE observed_at = $1`, t0); n != 4 {
		t.Errorf("observations = %d, want 4", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE extra = '{"OsPlatform": "Windows11"}'::jsonb`); n != 1 {
		t.Errorf("agents with the extra field = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE last_seen IS NULL AND last_command_execution_at IS NULL`); n != 1 {
		t.Errorf("agents never seen = %d, want 1 (stored as NULL)", n)
	}
}

func TestSyncChangedAndUnchangedAgents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(4)
	f.sync(t, listOf(recs...))
	before := f.snapshot(t)

	t1 := f.clock.Advance(time.Hour)
	recs[0].MDEClientVersion = "10.8295.22621.1195"      // descriptive: history
	recs[1].LastSeen = recs[1].LastSeen.Add(time.Minute) // volatile: observation only
	res := f.sync(t, listOf(recs...))
	if res.Seen != 4 || res.Inserted != 0 || res.Changed != 1 || res.HeartbeatOnly != 1 || res.Unchanged != 2 {
		t.Fatalf("result = %+v", res)
	}
	// A moved heartbeat is no change: it makes no version, no row of
	// scan_agent_changes, and the run counts it apart.
	if r := f.run(t, res.RunID); r.Changed != 1 || r.RecordsChanged != 1 || r.HeartbeatOnly != 1 || r.Unchanged != 2 {
		t.Errorf("run %+v, want 1 changed, 1 heartbeat-only, 2 unchanged", r)
	}
	if n := f.count(t, `SELECT count(DISTINCT agent_id) FROM defender.scan_agent_changes WHERE run_id = $1`, res.RunID); n != 1 {
		t.Errorf("%d agents in scan_agent_changes, want the 1 changed", n)
	}

	var oldTo, newFrom time.Time
	var oldVersion, newVersion string
	err := f.pool.QueryRow(context.Background(), `
		SELECT o.valid_to, o.mde_client_version, n.valid_from, n.mde_client_version
		  FROM defender.scan_agent_history o
		  JOIN defender.scan_agent_history n ON n.agent_id = o.agent_id AND n.valid_to IS NULL
		 WHERE o.agent_id = $1 AND o.valid_to IS NOT NULL`, recs[0].ID).Scan(&oldTo, &oldVersion, &newFrom, &newVersion)
	if err != nil {
		t.Fatalf("history of the upgraded agent: %v", err)
	}
	if !oldTo.Equal(t1) || !newFrom.Equal(t1) || oldVersion != "10.8295.22621.1010" || newVersion != "10.8295.22621.1195" {
		t.Errorf("history: old %s until %s, new %s from %s; want the switch at %s", oldVersion, oldTo, newVersion, newFrom, t1)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1`, recs[1].ID); n != 1 {
		t.Errorf("history rows of the agent whose lastSeen moved = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_observations WHERE observed_at = $1`, t1); n != 1 {
		t.Errorf("observations of the second sync = %d, want 1", n)
	}
	var lastSeen time.Time
	if err := f.pool.QueryRow(context.Background(), `SELECT last_seen FROM defender.scan_agents WHERE agent_id = $1`, recs[1].ID).Scan(&lastSeen); err != nil || !lastSeen.Equal(recs[1].LastSeen) {
		t.Errorf("current last_seen = %s (%v), want %s", lastSeen, err, recs[1].LastSeen)
	}

	// The two unchanged agents kept their row versions.
	after := f.snapshot(t)
	for _, r := range recs[2:] {
		if !sameLines(before, after, r.ID) {
			t.Errorf("unchanged agent %s was rewritten", r.ID)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE last_synced_at = $1`, t1); n != 4 {
		t.Errorf("agents last synced by the second run = %d, want 4 (derived, not written)", n)
	}
}

// sameLines reports whether the snapshot lines mentioning id are equal.
func sameLines(a, b, id string) bool {
	pick := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, id) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	return pick(a) != "" && pick(a) == pick(b)
}

func TestTimestampsCompareAtMicroseconds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := agent(1)
	r.LastSeen = time.Date(2022, 12, 19, 20, 29, 4, 824244900, time.UTC) // 7 digits: .8242449
	f.sync(t, listOf(r))
	before := f.snapshot(t)
	f.clock.Advance(time.Hour)
	r.LastSeen = time.Date(2022, 12, 19, 20, 29, 4, 824244999, time.UTC) // same microsecond
	res := f.sync(t, listOf(r))
	if res.Unchanged != 1 || res.Changed != 0 {
		t.Fatalf("result = %+v, want the agent unchanged", res)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("a sub-microsecond difference wrote rows:\n%s\n---\n%s", before, after)
	}
}

func TestResyncOfIdenticalDataWritesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(50)
	recs[7].Extra = map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`{"x":[1,2]}`)}
	f.sync(t, listOf(recs...))
	before := f.snapshot(t)
	f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(recs...))
	if res.Unchanged != 50 || res.Changed+res.Inserted+res.Deleted != 0 {
		t.Fatalf("result = %+v", res)
	}
	if after := f.snapshot(t); after != before {
		t.Fatal("an identical resync changed rows of the data tables")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'succeeded'`); n != 2 {
		t.Fatalf("succeeded runs = %d, want 2", n)
	}
}

func TestVanishedAndReturningAgents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(4)
	f.sync(t, listOf(recs...))

	t1 := f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(recs[:3]...))
	if res.Deleted != 1 || res.Unchanged != 3 {
		t.Fatalf("result = %+v, want one deleted", res)
	}
	var deletedAt, lastSynced time.Time
	if err := f.pool.QueryRow(context.Background(), `SELECT deleted_at, last_synced_at FROM defender.scan_agents WHERE agent_id = $1`, recs[3].ID).Scan(&deletedAt, &lastSynced); err != nil {
		t.Fatal(err)
	}
	if !deletedAt.Equal(t1) || !lastSynced.Equal(t0) {
		t.Errorf("vanished agent: deleted_at %s, last_synced_at %s; want %s and %s", deletedAt, lastSynced, t1, t0)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1 AND valid_to IS NULL`, recs[3].ID); n != 0 {
		t.Errorf("vanished agent still has an open history row")
	}

	t2 := f.clock.Advance(time.Hour)
	res = f.sync(t, listOf(recs...))
	if res.Changed != 1 || res.Unchanged != 3 || res.Deleted != 0 {
		t.Fatalf("result = %+v, want the returning agent counted as changed", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE agent_id = $1 AND deleted_at IS NULL AND last_synced_at = $2`, recs[3].ID, t2); n != 1 {
		t.Errorf("returned agent is not active and synced at %s", t2)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE agent_id = $1 AND valid_from = $2 AND valid_to IS NULL`, recs[3].ID, t2); n != 1 {
		t.Errorf("returned agent has no new open history row")
	}
	var events []string
	rows, err := f.pool.Query(context.Background(), `
		SELECT attribute || ':' || coalesce(old_value, '') || '>' || coalesce(new_value, '')
		  FROM defender.scan_agent_changes WHERE agent_id = $1 ORDER BY changed_at`, recs[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	want := []string{"agent:>first seen", "agent:active>deleted", "agent:deleted>returned"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Errorf("changes = %v, want %v", events, want)
	}
}

// A tenant whose every agent was deleted still has them stored: an agent
// that comes back returns under its own key, as in any other tenant.
func TestEveryAgentGoneThenOneBack(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(2)
	f.sync(t, listOf(recs...))
	f.clock.Advance(time.Hour)
	if res := f.sync(t, listOf()); res.Deleted != 2 {
		t.Fatalf("result = %+v, want both agents deleted", res)
	}

	t2 := f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(recs[1]))
	if res.Inserted != 0 || res.Changed != 1 {
		t.Fatalf("result = %+v, want the agent counted as returning", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.agent_state WHERE agent_id = $1`, recs[1].ID); n != 1 {
		t.Errorf("the returning agent is stored %d times", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE agent_id = $1 AND deleted_at IS NULL AND last_synced_at = $2`, recs[1].ID, t2); n != 1 {
		t.Errorf("returned agent is not active and synced at %s", t2)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_changes WHERE agent_id = $1 AND new_value = 'returned'`, recs[1].ID); n != 1 {
		t.Errorf("the return is not among the changes")
	}
}

func TestMassVanishIsWithheld(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(30)
	f.sync(t, listOf(recs...))

	t1 := f.clock.Advance(time.Hour)
	recs[0].ScannerSoftwareVersion = "7.6.0.0"
	res := f.sync(t, listOf(recs[:5]...)) // 25 of 30 missing: > 50% and > 10
	if res.Deleted != 0 || res.DeletionsWithheld != 25 || res.Changed != 1 {
		t.Fatalf("result = %+v, want 25 deletions withheld and the change applied", res)
	}
	if got := f.run(t, res.RunID); got.Withheld != 25 || got.Deleted != 0 || got.Status != "succeeded" {
		t.Fatalf("run row = %+v", got)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE deleted_at IS NULL`); n != 30 {
		t.Errorf("active agents = %d, want all 30 kept", n)
	}
	if !strings.Contains(f.logs.String(), "deletions withheld") {
		t.Errorf("no warning logged; logs:\n%s", f.logs)
	}
	// The withheld agents were not returned by this run: last_synced_at
	// stays at the previous run.
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE last_synced_at = $1`, t0); n != 25 {
		t.Errorf("agents last synced at t0 = %d, want 25", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents_as_of($1)`, t1); n != 5 {
		t.Errorf("scan_agents_as_of(t1) = %d agents, want the 5 the run saw", n)
	}

	// Allowing it once applies the deletions.
	g := setup(t, func(c *load.Config) { c.AllowMassDeletion = true })
	g.sync(t, listOf(recs...))
	g.clock.Advance(time.Hour)
	if res := g.sync(t, listOf(recs[:5]...)); res.Deleted != 25 || res.DeletionsWithheld != 0 {
		t.Fatalf("with AllowMassDeletion: result = %+v, want 25 deleted", res)
	}

	// Under either limit, deletions go ahead: 10 of 30 is not > 50%.
	h := setup(t)
	h.sync(t, listOf(recs...))
	h.clock.Advance(time.Hour)
	if res := h.sync(t, listOf(recs[:20]...)); res.Deleted != 10 || res.DeletionsWithheld != 0 {
		t.Fatalf("10 of 30 missing: result = %+v, want 10 deleted", res)
	}
}

func TestFailedSyncChangesNothingButSyncRuns(t *testing.T) {
	t.Parallel()
	recs := agents(20)
	changed := agents(20)
	changed[0].MDEClientVersion = "10.8295.22621.1195"
	changed[1].LastSeen = changed[1].LastSeen.Add(time.Hour)
	bad := changed[2]
	bad.ComputerDNSName = "bad\x00name"

	cases := []struct {
		name    string
		list    func(cancel context.CancelFunc) scanagent.ListFunc
		wantErr func(error) bool
	}{
		{"fetch fails mid-stream", func(context.CancelFunc) scanagent.ListFunc {
			return failingList(errors.New("page 3: 503 Service Unavailable"), changed[:10]...)
		}, func(err error) bool {
			var fe *load.FetchError
			return errors.As(err, &fe) && strings.Contains(err.Error(), "page 3")
		}},
		{"fetch fails after the last record", func(context.CancelFunc) scanagent.ListFunc {
			return failingList(errors.New("nextLink loop"), changed[:15]...)
		}, func(err error) bool { return strings.Contains(err.Error(), "nextLink loop") }},
		{"unstorable record", func(context.CancelFunc) scanagent.ListFunc {
			return listOf(append(changed[:2:2], bad)...)
		}, func(err error) bool { return strings.Contains(err.Error(), "computer_dns_name") }},
		{"cancelled mid-stream", func(cancel context.CancelFunc) scanagent.ListFunc {
			return func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
				for i, r := range changed {
					if i == 5 {
						cancel()
					}
					if err := ctx.Err(); err != nil {
						return scanagent.ListStats{}, err
					}
					if err := fn(r); err != nil {
						return scanagent.ListStats{}, err
					}
				}
				return scanagent.ListStats{}, nil
			}
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"cancelled once the listing is complete", func(cancel context.CancelFunc) scanagent.ListFunc {
			return func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
				stats, err := listOf(changed...)(ctx, fn)
				cancel() // the signal arrives while the loader applies the listing
				return stats, err
			}
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			f.sync(t, listOf(recs...))
			f.clock.Advance(time.Hour)
			f.sync(t, listOf(recs[:18]...)) // two deleted, for a richer state
			before := f.snapshot(t) + dbtest.RowVersions(t, f.pool, dbtest.RollupTables...)

			f.clock.Advance(time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := f.loader.Sync(ctx, tc.list(cancel))
			if err == nil || !tc.wantErr(err) {
				t.Fatalf("sync error = %v", err)
			}
			if after := f.snapshot(t) + dbtest.RowVersions(t, f.pool, dbtest.RollupTables...); after != before {
				t.Fatalf("failed sync changed data:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			got := f.run(t, res.RunID)
			if got.Status != "failed" || got.Error == nil || *got.Error == "" {
				t.Fatalf("run row = %+v, want failed with its error", got)
			}
			// The next sync still works and sees the previous state.
			f.clock.Advance(time.Hour)
			if res := f.sync(t, listOf(recs[:18]...)); res.Unchanged != 18 {
				t.Fatalf("sync after the failure: %+v", res)
			}
		})
	}
}

func TestConcurrentSyncsOfOneTenantNeverOverlap(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := load.New(f.pool, load.Config{TenantID: tenant, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inside := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseFirst := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseFirst() // also when the test fails early
	slow := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		close(inside)
		<-release
		return listOf(agents(3)...)(ctx, fn)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.loader.Sync(context.Background(), slow)
		done <- err
	}()
	<-inside
	// The run is visible as running while it fetches.
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE tenant_id = $1 AND status = 'running' AND finished_at IS NULL`, tenant); n != 1 {
		t.Fatalf("running runs visible during the sync = %d, want 1", n)
	}
	if _, err := other.Sync(context.Background(), listOf(agents(3)...)); !errors.Is(err, load.ErrSyncInProgress) {
		t.Fatalf("second sync while the first runs: err = %v, want ErrSyncInProgress", err)
	}
	// Another tenant is not blocked.
	third, err := load.New(f.pool, load.Config{TenantID: "fabrikam.com", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Sync(context.Background(), listOf(agents(2)...)); err != nil {
		t.Fatalf("sync of another tenant: %v", err)
	}
	releaseFirst()
	if err := <-done; err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE tenant_id = $1`, tenant); n != 1 {
		t.Fatalf("runs of the tenant = %d, want 1 (the skipped sync records none)", n)
	}
	// Once the first finished, the lock is free again.
	f.clock.Advance(time.Hour)
	if _, err := other.Sync(context.Background(), listOf(agents(3)...)); err != nil {
		t.Fatalf("sync after the first finished: %v", err)
	}
}

func TestAbandonedRunIsMarkedFailed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.pool.Exec(context.Background(), `
		WITH tenant AS (INSERT INTO defender_storage.tenants (tenant_id) VALUES ($1) RETURNING tenant_no),
		     worker AS (INSERT INTO defender_storage.sync_worker (worker) VALUES ('crashed:1') RETURNING worker_no)
		INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, worker_no)
		SELECT tenant_no, 'a', $2, worker_no FROM tenant, worker`,
		tenant, t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f.sync(t, listOf(agents(2)...))
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE worker = 'crashed:1' AND status = 'failed' AND error LIKE 'abandoned%'`); n != 1 {
		t.Fatal("the run left running by a stopped process was not marked failed")
	}
}

func TestClockBehindIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(2)...))
	f.clock.Advance(-time.Minute)
	_, err := f.loader.Sync(context.Background(), listOf(agents(2)...))
	if !errors.Is(err, load.ErrClockBehind) {
		t.Fatalf("err = %v, want ErrClockBehind", err)
	}
}

func TestDuplicateIDsKeepTheLast(t *testing.T) {
	t.Parallel()
	f := setup(t)
	first, last := agent(1), agent(1)
	first.MDEClientVersion = "10.0.0.1"
	last.MDEClientVersion = "10.0.0.2"
	res := f.sync(t, listOf(first, agent(2), last))
	if res.Seen != 2 || res.Inserted != 2 {
		t.Fatalf("result = %+v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE mde_client_version = '10.0.0.2'`); n != 1 {
		t.Fatal("the last record of a duplicated id did not win")
	}
}

func TestLastRun(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, ok, err := f.loader.LastRun(context.Background()); ok || err != nil {
		t.Fatalf("LastRun on an empty database: ok %v, err %v", ok, err)
	}
	res := f.sync(t, listOf(agents(1)...))
	run, ok, err := f.loader.LastRun(context.Background())
	if err != nil || !ok || run.RunID != res.RunID || run.Status != "succeeded" || !run.FetchedAt.Equal(t0) {
		t.Fatalf("LastRun = %+v, %v, %v", run, ok, err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.loader.Sync(context.Background(), failingList(errors.New("boom"))); err == nil {
		t.Fatal("failing sync succeeded")
	}
	run, _, _ = f.loader.LastRun(context.Background())
	if run.Status != "failed" || !strings.Contains(run.Error, "boom") {
		t.Fatalf("LastRun after a failure = %+v", run)
	}
}

// TestLastRunTakesALongRunningRunAsStuck: a run still marked running
// within the sync timeout may yet succeed, so the run before it tells; one
// running for longer is stuck.
func TestLastRunTakesALongRunningRunAsStuck(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *load.Config) { c.SyncTimeout = time.Hour })
	res := f.sync(t, listOf(agents(1)...))
	var running int64
	if err := f.pool.QueryRow(context.Background(), `
		WITH worker AS (INSERT INTO defender_storage.sync_worker (worker) VALUES ('hung:1') RETURNING worker_no)
		INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at, worker_no)
		SELECT t.tenant_no, 'a', $2, w.worker_no FROM defender_storage.tenants t, worker w WHERE t.tenant_id = $1
		RETURNING run_id`, tenant, f.clock.Advance(time.Minute)).Scan(&running); err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(59 * time.Minute) // within the timeout
	run, ok, err := f.loader.LastRun(context.Background())
	if err != nil || !ok || run.RunID != res.RunID || run.Status != "succeeded" || run.Stuck() {
		t.Fatalf("LastRun with a run in flight = %+v, %v, %v; want the succeeded run before it", run, ok, err)
	}
	f.clock.Advance(2 * time.Minute) // past the timeout
	run, ok, err = f.loader.LastRun(context.Background())
	if err != nil || !ok || run.RunID != running || !run.Stuck() || !run.FinishedAt.IsZero() {
		t.Fatalf("LastRun with a run running past the timeout = %+v, %v, %v; want it, stuck", run, ok, err)
	}
}

// TestSyncTimeout: a sync still going after Config.SyncTimeout is
// cancelled, rolled back and recorded failed, saying so.
func TestSyncTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(3)...)) // with the default timeout, however busy the machine
	timed, err := load.New(f.pool, load.Config{TenantID: tenant, Now: f.clock.Now, Worker: "test",
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)), SyncTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	before := f.snapshot(t)
	f.clock.Advance(time.Hour)
	hang := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		if err := fn(agent(7)); err != nil {
			return scanagent.ListStats{}, err
		}
		<-ctx.Done() // a page that never comes
		return scanagent.ListStats{Agents: 1}, fmt.Errorf("fetch page 2: %w", context.Cause(ctx))
	}
	start := time.Now()
	res, err := timed.Sync(context.Background(), hang)
	if !errors.Is(err, load.ErrSyncTimeout) {
		t.Fatalf("sync error = %v, want ErrSyncTimeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the sync ended %s after it started, long after its timeout", took)
	}
	got := f.run(t, res.RunID)
	if got.Status != "failed" || got.Error == nil || !strings.Contains(*got.Error, "sync timed out: still running after 300ms, cancelled and rolled back") {
		t.Fatalf("run = %+v, want failed with the timeout", got)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("the timed-out sync changed data:\n%s\n---\n%s", before, after)
	}
}

func TestVersionDriftOrdersVersionsNumerically(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(4)
	recs[0].MDEClientVersion = "10.8295.22621.1010"
	recs[1].MDEClientVersion = "10.8295.22621.1195"
	recs[2].MDEClientVersion = "10.10000.0.0" // newest: 10000 > 8295 numerically, not as text
	recs[3].MDEClientVersion = "10.10000"     // the same version: trailing zeros do not count
	f.sync(t, listOf(recs...))
	rows, err := f.pool.Query(context.Background(), `
		SELECT mde_client_version, newest_mde_client_version, versions_behind
		  FROM defender.version_drift ORDER BY agent_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := []string{
		"10.8295.22621.1010 10.10000.0.0 2",
		"10.8295.22621.1195 10.10000.0.0 1",
		"10.10000.0.0 10.10000.0.0 0",
		"10.10000 10.10000.0.0 0",
	}
	var got []string
	for rows.Next() {
		var v, newest string
		var behind int
		if err := rows.Scan(&v, &newest, &behind); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %d", v, newest, behind))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("version_drift:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An agent the extractor listed but could not read (a malformed field) is
// kept as it was: its missing record is no deletion.
func TestUnreadableAgentIsNotDeleted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(3)
	f.sync(t, listOf(recs...))
	before := f.snapshot(t)

	f.clock.Advance(time.Hour)
	unreadable := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		stats, err := listOf(recs[:2]...)(ctx, fn)
		stats.Rejected, stats.RejectedIDs = 1, []string{recs[2].ID}
		return stats, err
	}
	res := f.sync(t, unreadable)
	if res.Deleted != 0 || res.DeletionsWithheld != 0 || res.Rejected != 1 || res.Unchanged != 2 {
		t.Fatalf("result = %+v, want the unreadable agent neither deleted nor withheld", res)
	}
	if after := f.snapshot(t); after != before {
		t.Fatalf("a listing with an unreadable agent changed data:\n%s\n---\n%s", before, after)
	}
	// A later listing without it deletes it as usual.
	f.clock.Advance(time.Hour)
	if res := f.sync(t, listOf(recs[:2]...)); res.Deleted != 1 {
		t.Fatalf("result = %+v, want the agent deleted once a listing no longer has it", res)
	}
}

// TestFailedRunStoresAnyErrorText: whatever text the failure carries (a
// NUL, invalid UTF-8, terminal escapes, a token, megabytes), the run ends
// failed with its error, made storable, escaped, redacted and bounded.
func TestFailedRunStoresAnyErrorText(t *testing.T) {
	t.Parallel()
	const jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	f := setup(t)
	cause := "hujson: invalid literal: \"a\x00b M\xfcnchen\nBuild \x1b[2J Bearer " + jwt + " " + strings.Repeat("x", 2<<20) + "\""
	res, err := f.loader.Sync(context.Background(), failingList(errors.New(cause), agents(2)...))
	if err == nil {
		t.Fatal("sync succeeded")
	}
	got := f.run(t, res.RunID)
	if got.Status != "failed" || got.Error == nil {
		t.Fatalf("run = %+v, want failed with its error", got)
	}
	want := `fetch: hujson: invalid literal: "a\x00b M\xfcnchen\nBuild \x1b[2J Bearer [redacted] xxx`
	if e := *got.Error; !strings.HasPrefix(e, want) || len(e) > 1024 || !strings.HasSuffix(e, "…[truncated]") || strings.Contains(e, jwt[:20]) {
		t.Fatalf("stored error (%d bytes) = %.200q...; want it to start %q, bounded, cut with a marker, without the token", len(e), e, want)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'running'`); n != 0 {
		t.Fatalf("%d runs left running", n)
	}
}

// TestRecordWithoutIDWithholdsEveryDeletion: when a listing has a record
// without a usable id, any agent it seems to lack may be that record, so
// none is deleted, even with the mass-deletion guard off; the deletions
// are withheld and recorded as the guard records them.
func TestRecordWithoutIDWithholdsEveryDeletion(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *load.Config) { c.AllowMassDeletion = true })
	recs := agents(5)
	f.sync(t, listOf(recs...))
	agentTables := []string{"defender_storage.agent_state", "defender_storage.agent_heartbeat", "defender.scan_agent_history", "defender_storage.observation"}
	before := dbtest.RowVersions(t, f.pool, agentTables...)

	f.clock.Advance(time.Hour)
	withoutID := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		stats, err := listOf(recs[:3]...)(ctx, fn)
		stats.Rejected, stats.Unidentified = 2, 2 // two ids missing or null
		return stats, err
	}
	res := f.sync(t, withoutID)
	if res.Deleted != 0 || res.DeletionsWithheld != 2 || res.Unchanged != 3 {
		t.Fatalf("result = %+v, want both missing agents withheld, none deleted", res)
	}
	if got := f.run(t, res.RunID); got.Deleted != 0 || got.Withheld != 2 {
		t.Errorf("sync_runs row = %+v, want 2 deletions withheld", got)
	}
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.withheld_deletions w
		  JOIN defender_storage.agent_state a USING (agent_key)
		 WHERE w.run_id = $1 AND a.agent_id = ANY($2)`, res.RunID, []string{recs[3].ID, recs[4].ID}); n != 2 {
		t.Errorf("withheld_deletions rows of the missing agents = %d, want 2", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE deleted_at IS NOT NULL`); n != 0 {
		t.Errorf("%d agents marked deleted", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE valid_to IS NOT NULL`); n != 0 {
		t.Errorf("%d history versions closed", n)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "deletions withheld: the listing had records without a usable id") || !strings.Contains(logs, "unidentified=2") {
		t.Errorf("no warning naming the records without an id in the logs:\n%s", logs)
	}
	if after := dbtest.RowVersions(t, f.pool, agentTables...); after != before {
		t.Errorf("the listing changed agents:\n%s\n---\n%s", before, after)
	}

	// The next listing whose records all have an id deletes them.
	f.clock.Advance(time.Hour)
	if res := f.sync(t, listOf(recs[:3]...)); res.Deleted != 2 || res.DeletionsWithheld != 0 {
		t.Fatalf("result = %+v, want the two agents deleted", res)
	}
}

// TestHeartbeatsNeverRewriteAgentRows: syncs in which only lastSeen moved
// leave every descriptive row and version as it was, and update each
// agent's heartbeat row in place: no index covers an updated column, and
// each page keeps room for new versions, so an update is HOT (no new index
// entry).
// Later syncs reuse the room once PostgreSQL has pruned the dead versions,
// which another transaction's snapshot may delay; the first always finds it.
func TestHeartbeatsNeverRewriteAgentRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recs := agents(200)
	f.sync(t, listOf(recs...))
	var indexed int
	if err := f.pool.QueryRow(ctx, `
		SELECT count(*) FROM pg_catalog.pg_index i
		  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		 WHERE i.indrelid = 'defender_storage.agent_heartbeat'::regclass AND a.attname <> 'agent_key'`).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if indexed != 0 {
		t.Fatalf("%d indexes cover a heartbeat column: its updates cannot be HOT", indexed)
	}
	heartbeats := f.count(t, `SELECT count(*) FROM defender_storage.agent_heartbeat`)
	if heartbeats != len(recs) {
		t.Fatalf("%d heartbeat rows, want one per agent (%d)", heartbeats, len(recs))
	}
	descriptive := func() string {
		return dbtest.RowVersions(t, f.pool, "defender_storage.agent_state", "defender.scan_agent_history")
	}
	before := descriptive()
	for round := range 3 {
		f.clock.Advance(time.Hour)
		for i := range recs {
			recs[i].LastSeen = recs[i].LastSeen.Add(time.Hour)
		}
		res := f.sync(t, listOf(recs...))
		if res.Changed != 0 || res.HeartbeatOnly != len(recs) {
			t.Fatalf("round %d: %d agents changed and %d heartbeat-only, want none and all %d (their lastSeen moved)", round, res.Changed, res.HeartbeatOnly, len(recs))
		}
		if round > 0 {
			continue
		}
		// The server reports table statistics shortly after each transaction.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var updates, hot int
			if err := f.pool.QueryRow(ctx, `
				SELECT n_tup_upd, n_tup_hot_upd FROM pg_catalog.pg_stat_user_tables
				 WHERE schemaname = 'defender_storage' AND relname = 'agent_heartbeat'`).Scan(&updates, &hot); err != nil {
				t.Fatal(err)
			}
			if updates == heartbeats {
				if hot != updates {
					t.Fatalf("%d of %d heartbeat updates were HOT, want all", hot, updates)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("statistics show %d heartbeat updates, want %d", updates, heartbeats)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if after := descriptive(); after != before {
		t.Fatalf("a heartbeat rewrote descriptive rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestTenantNameIsStored: the configured display name is stored with the
// tenant and shown by fleet_daily; a sync without one keeps it.
func TestTenantNameIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *load.Config) { c.TenantName = "Contoso Ltd" })
	f.sync(t, listOf(agents(3)...))
	name := func() string {
		var n *string
		if err := f.pool.QueryRow(context.Background(), `SELECT max(tenant_name) FROM defender.fleet_daily`).Scan(&n); err != nil || n == nil {
			t.Fatalf("tenant_name: %v, %v", n, err)
		}
		return *n
	}
	if got := name(); got != "Contoso Ltd" {
		t.Fatalf("tenant_name = %q", got)
	}
	unnamed, err := load.New(f.pool, load.Config{TenantID: tenant, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if _, err := unnamed.Sync(context.Background(), listOf(agents(3)...)); err != nil {
		t.Fatal(err)
	}
	if got := name(); got != "Contoso Ltd" {
		t.Fatalf("tenant_name after a sync without a name = %q", got)
	}
}

// TestSyncRoundSkipsATenantSyncedInTheRound: a replica reaching a tenant
// another one synced since the round began writes nothing and says so.
func TestSyncRoundSkipsATenantSyncedInTheRound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	round := f.clock.Now()
	f.sync(t, listOf(agents(3)...))
	before := f.snapshot(t)
	f.clock.Advance(time.Minute)
	if _, err := f.loader.SyncRound(context.Background(), listOf(agents(4)...), round); !errors.Is(err, load.ErrSyncedAlready) {
		t.Fatalf("SyncRound after a sync of this round: %v, want ErrSyncedAlready", err)
	}
	if after := f.snapshot(t); after != before {
		t.Fatal("a skipped round changed agent data")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs`); n != 1 {
		t.Fatalf("%d runs, want the first only", n)
	}
	if res, err := f.loader.SyncRound(context.Background(), listOf(agents(4)...), f.clock.Now()); err != nil || res.Inserted != 1 {
		t.Fatalf("SyncRound of a new round: %+v, %v", res, err)
	}
}

// TestRepairedFieldsAreCounted: the fields the extractor repaired are
// counted in the run.
func TestRepairedFieldsAreCounted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	res := f.sync(t, func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
		st, err := listOf(agents(3)...)(ctx, fn)
		st.FieldsRepaired, st.RepairedFields, st.RepairedIDs = 2, []string{"computerDnsName"}, []string{agent(1).ID}
		return st, err
	})
	if res.FieldsRepaired != 2 {
		t.Errorf("result %+v, want 2 fields repaired", res)
	}
	if r := f.run(t, res.RunID); r.FieldsRepaired != 2 {
		t.Errorf("run %+v, want fields_repaired 2", r)
	}
}

// TestWorkTablesEmptyAfterEachSync: a sync empties its work tables before
// it commits (they keep their rows across commits), by deleting their rows
// or, every few runs and after a large one, by truncating them; either way
// the next sync on the connection, or another client a transaction pooler
// hands the same server connection, finds none of its rows. Twelve rounds
// of every resource, on a pool of one connection, take both ways.
func TestWorkTablesEmptyAfterEachSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	l, pool, _ := tracedLoader(t, f) // one connection: the syncs' and the checks'
	fleet, defs := agents(30), definitions(3)
	h := &history{}
	rowsLeft := func(after string) {
		t.Helper()
		var left []string
		if err := pool.QueryRow(ctx, `
			SELECT coalesce(array_agg(c.relname || ': ' || n ORDER BY c.relname) FILTER (WHERE n > 0), '{}')
			  FROM pg_class c
			 CROSS JOIN LATERAL (SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM pg_temp.%I', c.relname), false, true, '')))[1]::text::int AS n) x
			 WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("after %s, work tables hold rows: %v", after, left)
		}
	}
	var tables int
	for round := range 12 {
		fleet[round].MDEClientVersion = scanagent.Version(fmt.Sprintf("10.8295.22621.%d", 2000+round))
		if _, err := l.Sync(ctx, listOf(fleet...)); err != nil {
			t.Fatal(err)
		}
		rowsLeft(fmt.Sprintf("agents sync %d", round))
		if _, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil {
			t.Fatal(err)
		}
		rowsLeft(fmt.Sprintf("definitions sync %d", round))
		h.sessions = append([]scanagent.ScanSession{session(defs[round%3], round, f.clock.Now().Add(-time.Minute),
			[2]string{fmt.Sprintf("10.0.%d.1", round), "Success"})}, h.sessions...)
		if _, err := l.SyncHistory(ctx, h); err != nil {
			t.Fatal(err)
		}
		rowsLeft(fmt.Sprintf("history sync %d", round))
		f.clock.Advance(time.Hour)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables < 12 {
		t.Errorf("%d work tables on the connection, want the 12 of the three resources", tables)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'succeeded'`); n != 36 {
		t.Errorf("%d succeeded runs, want 36", n)
	}
}

// TestAFailureAlongsideTheRunStartIsRecorded: what an agents sync reads in
// the round trip that records its run's start (the latest sync's fetch
// time, the month's observation partition made ready) shares that
// start's transaction; when it fails, the run is still recorded, failed
// with its error, and no data changes.
func TestAFailureAlongsideTheRunStartIsRecorded(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	f.sync(t, listOf(agents(2)...))
	before := f.snapshot(t)
	if _, err := f.pool.Exec(ctx, `REVOKE EXECUTE ON FUNCTION defender_storage.ensure_observation_partition(timestamptz) FROM PUBLIC, CURRENT_USER`); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	_, err := f.loader.Sync(ctx, listOf(agents(3)...))
	if err == nil || !strings.Contains(err.Error(), "read latest run") || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("sync error = %v, want the failed reading's", err)
	}
	run, ok, err := f.loader.LastRun(ctx)
	if err != nil || !ok || run.Status != "failed" || !strings.Contains(run.Error, "permission denied") {
		t.Fatalf("LastRun = %+v, %v, %v; want the run recorded failed with the reading's error", run, ok, err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs`); n != 2 {
		t.Fatalf("%d runs recorded, want 2 (the run failed once)", n)
	}
	if after := f.snapshot(t); after != before {
		t.Errorf("the failed sync changed the data:\nbefore %s\nafter  %s", before, after)
	}
}
