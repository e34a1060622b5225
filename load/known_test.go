package load_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// TestRepeatedIDsOfStoredAgentsKeepTheLast: a known agent listed twice
// takes its last record, whatever the first one would have done alone
// (changed, unchanged, or only a moved heartbeat).
func TestRepeatedIDsOfStoredAgentsKeepTheLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recs := agents(5)
	f.sync(t, listOf(recs...))
	f.clock.Advance(time.Hour)

	changed := func(r scanagent.Record) scanagent.Record {
		r.MDEClientVersion = "10.9999.0.1"
		return r
	}
	movedBy := func(r scanagent.Record, d time.Duration) scanagent.Record {
		r.LastSeen = r.LastSeen.Add(d)
		return r
	}
	res := f.sync(t, listOf(
		changed(recs[0]), recs[1], movedBy(recs[2], time.Hour), movedBy(recs[3], time.Hour), recs[4],
		recs[0], changed(recs[1]), recs[2], movedBy(recs[3], 2*time.Hour)))
	if res.Seen != 5 || res.Changed != 1 || res.HeartbeatOnly != 1 || res.Unchanged != 3 || res.Inserted+res.Deleted != 0 {
		t.Fatalf("result = %+v, want 5 seen: agent 1 changed, agent 3's heartbeat moved, 3 unchanged", res)
	}
	type row struct {
		version  string
		lastSeen time.Time
		versions int
	}
	for i, want := range []row{
		{"10.8295.22621.1010", recs[0].LastSeen, 1},
		{"10.9999.0.1", recs[1].LastSeen, 2},
		{"10.8295.22621.1010", recs[2].LastSeen, 1},
		{"10.8295.22621.1010", recs[3].LastSeen.Add(2 * time.Hour), 1},
	} {
		var got row
		if err := f.pool.QueryRow(ctx, `
			SELECT a.mde_client_version, a.last_seen,
			       (SELECT count(*) FROM defender.scan_agent_history h WHERE h.agent_id = a.agent_id)
			  FROM defender.scan_agents a WHERE a.agent_id = $1`, recs[i].ID).Scan(&got.version, &got.lastSeen, &got.versions); err != nil {
			t.Fatal(err)
		}
		if got.version != want.version || !got.lastSeen.Equal(want.lastSeen) || got.versions != want.versions {
			t.Errorf("agent %d = %+v, want %+v (its last record)", i, got, want)
		}
	}
	// One observation per agent whose heartbeat moved: agent 3 alone.
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_observations WHERE run_id = $1`, res.RunID); n != 1 {
		t.Fatalf("%d observations in the second sync, want 1", n)
	}
}

// TestAgentsWithoutFingerprintAreComparedInFull: agents stored before
// fingerprints existed (or whose fingerprint does not match) are staged
// and compared value by value: no version is made for them, their
// fingerprint is stored once, and the next identical sync writes nothing.
func TestAgentsWithoutFingerprintAreComparedInFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	recs := agents(20)
	recs[3].Extra = map[string]json.RawMessage{"note": json.RawMessage(`{"a": 1}`)}
	seen := recs[6].LastSeen
	recs[6].LastSeen = time.Time{} // never seen, until the second sync
	f.sync(t, listOf(recs...))
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.agent_state SET fingerprint = NULL WHERE agent_id <> $1`, recs[3].ID); err != nil {
		t.Fatal(err)
	}
	// The same JSON value, spelled otherwise: another fingerprint, the
	// same stored value.
	recs[3].Extra = map[string]json.RawMessage{"note": json.RawMessage(`{ "a" : 1 }`)}
	recs[6].LastSeen = seen
	history := f.count(t, `SELECT count(*) FROM defender.scan_agent_history`)

	f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(recs...))
	if res.HeartbeatOnly != 1 || res.Changed != 0 || res.Unchanged != 19 {
		t.Fatalf("result = %+v, want 1 heartbeat moved and 19 unchanged", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history`); n != history {
		t.Fatalf("%d history versions, want %d: no descriptive value changed", n, history)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.agent_state WHERE fingerprint IS NULL`); n != 0 {
		t.Fatalf("%d agents still without a fingerprint", n)
	}
	if m := dbtest.RollupMismatches(t, f.pool); len(m) > 0 {
		t.Fatalf("daily rollups differ from their definition:\n%s", strings.Join(m, "\n"))
	}
	before := f.snapshot(t)
	f.clock.Advance(time.Hour)
	res = f.sync(t, listOf(recs...))
	if res.Unchanged != 20 {
		t.Fatalf("result = %+v", res)
	}
	if after := f.snapshot(t); after != before {
		t.Fatal("an identical sync after the fingerprints were stored wrote rows")
	}
}

// TestDescriptiveChangesAreSeenWhateverTheField: a change of any
// descriptive value, extra fields included, makes a version, and the
// records that change nothing are not written.
func TestDescriptiveChangesAreSeenWhateverTheField(t *testing.T) {
	t.Parallel()
	f := setup(t)
	base := agents(8)
	base[7].Extra = map[string]json.RawMessage{"a": json.RawMessage(`1`), "b": json.RawMessage(`2`)}
	f.sync(t, listOf(base...))
	next := append([]scanagent.Record(nil), base...)
	next[0].MachineID = "other"
	next[1].ComputerDNSName = ""
	next[2].AssignedApplicationID = "x"
	next[3].ScannerSoftwareVersion = "7.1.2"
	next[4].MDEClientVersion = "10.1"
	next[5].Extra = map[string]json.RawMessage{"a": json.RawMessage(`1`)}
	// Two fields whose texts, run together, read the same.
	next[6].MachineID, next[6].ComputerDNSName = base[6].MachineID+base[6].ComputerDNSName[:3], base[6].ComputerDNSName[3:]
	next[7].Extra = map[string]json.RawMessage{"b": json.RawMessage(`2`), "a": json.RawMessage(`1`)} // same map
	f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(next...))
	if res.Changed != 7 || res.Unchanged != 1 {
		t.Fatalf("result = %+v, want 7 changed, 1 unchanged", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_history WHERE valid_to IS NOT NULL`); n != 7 {
		t.Fatalf("%d closed versions, want 7", n)
	}
}

// TestFleetOfAnUnchangedSyncIsRecounted: a sync that changes no agent but
// heartbeats keeps the day's versions and recounts what depends on
// last_seen: an agent goes stale between two identical syncs of a day,
// another is seen for the first time, and the rollups agree with their
// definition after each sync.
func TestFleetOfAnUnchangedSyncIsRecounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	f.clock.Advance(time.Hour) // 01:00, day one
	recs := agents(6)
	recs[0].LastSeen = f.clock.Now().Add(-7*24*time.Hour + 30*time.Minute) // stale half an hour later
	recs[1].LastSeen = time.Time{}                                         // never seen
	recs[2].MDEClientVersion = "10.9999.0.1"
	recs[3].LastSeen = f.clock.Now().Add(-6*24*time.Hour - 12*time.Hour) // stale in half a day
	check := func(step string, wantStale, wantNever int) {
		t.Helper()
		if m := dbtest.RollupMismatches(t, f.pool); len(m) > 0 {
			t.Fatalf("%s: daily rollups differ from their definition:\n%s", step, strings.Join(m, "\n"))
		}
		var stale, never, active, onNewest int
		var newest string
		if err := f.pool.QueryRow(ctx, `
			SELECT stale_7d_agents, never_seen_agents, active_agents, newest_mde_client_version, agents_on_newest
			  FROM defender.fleet_daily ORDER BY day DESC LIMIT 1`).Scan(&stale, &never, &active, &newest, &onNewest); err != nil {
			t.Fatal(err)
		}
		if stale != wantStale || never != wantNever || active != 6 || newest != "10.9999.0.1" || onNewest != 1 {
			t.Fatalf("%s: fleet = %d stale, %d never seen, %d active, newest %s on %d; want %d stale, %d never seen, 6 active, newest 10.9999.0.1 on 1",
				step, stale, never, active, newest, onNewest, wantStale, wantNever)
		}
	}
	f.sync(t, listOf(recs...))
	check("first sync", 0, 1)

	f.clock.Advance(time.Hour)
	res := f.sync(t, listOf(recs...))
	if res.Unchanged != 6 {
		t.Fatalf("result = %+v, want every agent unchanged", res)
	}
	check("identical sync, an hour later", 1, 1)

	f.clock.Advance(time.Hour)
	recs[1].LastSeen = f.clock.Now().Add(-time.Minute)
	recs[0].LastSeen = f.clock.Now().Add(-time.Minute)
	res = f.sync(t, listOf(recs...))
	if res.HeartbeatOnly != 2 || res.Changed != 0 || res.Unchanged != 4 {
		t.Fatalf("result = %+v, want two heartbeats moved", res)
	}
	check("two heartbeats moved", 0, 0)
}

// TestSyncOverTheSimpleProtocol: through a connection pooler that needs
// the simple protocol (results in text), a sync reads the stored agents
// alike: an identical sync writes nothing, and a moved heartbeat is seen.
func TestSyncOverTheSimpleProtocol(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	cfg, err := pgxpool.ParseConfig(f.url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := load.New(pool, load.Config{TenantID: tenant, Now: f.clock.Now, Worker: "test",
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sync := func(records ...scanagent.Record) load.Result {
		t.Helper()
		f.clock.Advance(time.Hour)
		res, err := l.Sync(ctx, listOf(records...))
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return res
	}
	recs := agents(10)
	recs[2].LastSeen = time.Time{}
	sync(recs...)
	before := f.snapshot(t)
	if res := sync(recs...); res.Unchanged != 10 {
		t.Fatalf("identical sync: %+v", res)
	}
	if f.snapshot(t) != before {
		t.Fatal("an identical sync wrote rows")
	}
	recs[4].LastSeen = recs[4].LastSeen.Add(time.Minute)
	if res := sync(recs[1:]...); res.HeartbeatOnly != 1 || res.Changed != 0 || res.Unchanged != 8 || res.Deleted != 1 {
		t.Fatalf("sync with a moved heartbeat and a vanished agent: %+v", res)
	}
	if m := dbtest.RollupMismatches(t, f.pool); len(m) > 0 {
		t.Fatalf("daily rollups differ from their definition:\n%s", strings.Join(m, "\n"))
	}
}

// TestTenantsWhoseAgentsTakeKeysInTurn: when two tenants' agents join one
// at a time and get keys in turn, each tenant still numbers its agents 1,
// 2, ..., each sync of a tenant writes one observation row of its own
// tenant, and each agent reads its own heartbeat back.
func TestTenantsWhoseAgentsTakeKeysInTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	other, err := load.New(f.pool, load.Config{TenantID: "fabrikam.onmicrosoft.com", Now: f.clock.Now, Worker: "test",
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := agents(4), agents(4)
	for i := range theirs {
		theirs[i].LastSeen = theirs[i].LastSeen.Add(-24 * time.Hour)
	}
	// Agents are added one by one, in turn: keys 1, 3, 5, 7 are ours.
	for n := 1; n <= len(ours); n++ {
		f.clock.Advance(time.Minute)
		f.sync(t, listOf(ours[:n]...))
		if _, err := other.Sync(ctx, listOf(theirs[:n]...)); err != nil {
			t.Fatal(err)
		}
	}
	var numbers string
	if err := f.pool.QueryRow(ctx, `
		SELECT string_agg(tenant_id || ':' || agent_no, ' ' ORDER BY agent_key) FROM defender_storage.agent_state`).Scan(&numbers); err != nil {
		t.Fatal(err)
	}
	if want := tenant + ":1 fabrikam.onmicrosoft.com:1 " + tenant + ":2 fabrikam.onmicrosoft.com:2 " +
		tenant + ":3 fabrikam.onmicrosoft.com:3 " + tenant + ":4 fabrikam.onmicrosoft.com:4"; numbers != want {
		t.Fatalf("agents by key: %s\nwant %s", numbers, want)
	}
	// Each sync observed its tenant's agents in one row (the first
	// sync of each tenant observed its first agent).
	if n := f.count(t, `SELECT count(*) FROM defender_storage.observation o JOIN defender.sync_runs r USING (run_id)
	                     WHERE r.tenant_id = '`+tenant+`'`); n != len(ours) {
		t.Fatalf("%d observation rows of our tenant, want one per sync (%d)", n, len(ours))
	}
	// Our heartbeats move, and one of our agents goes; theirs stay.
	for i := range ours {
		ours[i].LastSeen = ours[i].LastSeen.Add(time.Hour)
	}
	f.clock.Advance(time.Hour)
	if res := f.sync(t, listOf(ours[1:]...)); res.HeartbeatOnly != 3 || res.Changed != 0 || res.Deleted != 1 {
		t.Fatalf("our sync: %+v", res)
	}
	check := func(tenant string, records []scanagent.Record) {
		t.Helper()
		for _, r := range records {
			var seen time.Time
			if err := f.pool.QueryRow(ctx, `SELECT last_seen FROM defender.scan_agents WHERE tenant_id = $1 AND agent_id = $2`,
				tenant, r.ID).Scan(&seen); err != nil || !seen.Equal(r.LastSeen) {
				t.Errorf("%s, agent %s: last_seen = %v, %v; want %v", tenant, r.ID, seen, err, r.LastSeen)
			}
		}
	}
	// The deleted agent keeps the last heartbeat seen of it.
	ours[0].LastSeen = ours[0].LastSeen.Add(-time.Hour)
	check(tenant, ours)
	check("fabrikam.onmicrosoft.com", theirs)
}

// TestHeartbeatsReadBackAtEverySize: a sync writes the blocks of a small
// tenant from its statement and those of a large one (over 64 blocks)
// through COPY; either way every agent reads its own heartbeat back,
// moved or not, deleted or not.
func TestHeartbeatsReadBackAtEverySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := setup(t)
			recs := agents(n)
			f.sync(t, listOf(recs...))
			// Every third agent moves, every seventh loses its last
			// command, and the last ten go (keeping what was seen last).
			for i := range recs[:n-10] {
				switch {
				case i%7 == 0:
					recs[i].LastCommandExecutionAt = time.Time{}
				case i%3 == 0:
					recs[i].LastSeen = recs[i].LastSeen.Add(time.Hour)
				}
			}
			f.clock.Advance(time.Hour)
			if res := f.sync(t, listOf(recs[:n-10]...)); res.Deleted != 10 {
				t.Fatalf("sync: %+v", res)
			}
			rows, err := f.pool.Query(ctx, `SELECT agent_id, last_seen, last_command_execution_at FROM defender.scan_agents`)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][2]pgtype.Timestamptz{}
			var id string
			var seen, cmd pgtype.Timestamptz
			if _, err := pgx.ForEachRow(rows, []any{&id, &seen, &cmd}, func() error {
				got[id] = [2]pgtype.Timestamptz{seen, cmd}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d agents, want %d", len(got), n)
			}
			for _, r := range recs {
				g := got[r.ID]
				if g[0].Valid != !r.LastSeen.IsZero() || !g[0].Time.Equal(r.LastSeen) ||
					g[1].Valid != !r.LastCommandExecutionAt.IsZero() || !g[1].Time.Equal(r.LastCommandExecutionAt) {
					t.Fatalf("agent %s: heartbeat %v, want %v and %v", r.ID, g, r.LastSeen, r.LastCommandExecutionAt)
				}
			}
		})
	}
}
