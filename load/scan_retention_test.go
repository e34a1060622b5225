package load_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/scanagent"
)

// answers is every row of the scan views an answer reads, as text, in a
// stable order.
func answers(t *testing.T, f *fixture, view string) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(),
		fmt.Sprintf(`SELECT v::text FROM %s v ORDER BY v::text COLLATE "C"`, view))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDropScanHistoryKeepsTheAnswers: SCAN_HISTORY_RETENTION drops the
// sessions past it, with their targets, of every tenant, and keeps what
// scan_coverage and scan_target_status read: both answer the same rows
// after it. agentsync verify still verifies every chain, taking the
// session and target parts of the runs that wrote what was dropped as
// their digests kept them, and still finds an edit of a session it kept.
// The next sync stores none of the dropped sessions again.
func TestDropScanHistoryKeepsTheAnswers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	end := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var synced []loadtest.Synced
	for i, id := range []string{"tenant-a.example", "tenant-b.example"} {
		synced = append(synced, loadtest.Sync(t, f.pool, loadtest.Story{TenantID: id, Agents: 40, Days: 40, Seed: int64(i + 3),
			History: true, End: end}))
	}
	count := func(where string, args ...any) (n int) {
		t.Helper()
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM defender_storage.session_result WHERE `+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	retention := 20 * 24 * time.Hour
	cutoff := end.Add(-retention)
	old := count(`scanned_at < $1`, cutoff)
	if old < 100 {
		t.Fatalf("%d sessions ran before the cutoff; the story is too short to test retention", old)
	}
	coverage, status := answers(t, f, "defender.scan_coverage"), answers(t, f, "defender.scan_target_status")
	// What the loader kept of each definition is what its sessions say.
	kept := answers(t, f, "defender_storage.definition_coverage")
	if _, err := f.pool.Exec(ctx, `
		DELETE FROM defender_storage.definition_coverage;
		SELECT defender_storage.cover_definitions(tenant_id, array_agg(DISTINCT definition_id))
		  FROM defender_storage.session_result GROUP BY tenant_id`); err != nil {
		t.Fatal(err)
	}
	if again := answers(t, f, "defender_storage.definition_coverage"); len(kept) < 10 || strings.Join(again, "\n") != strings.Join(kept, "\n") {
		t.Errorf("definition_coverage as the loader kept it:\n%s\nfrom the sessions:\n%s", strings.Join(kept, "\n"), strings.Join(again, "\n"))
	}
	if len(coverage) == 0 || len(status) == 0 {
		t.Fatalf("scan_coverage %d rows, scan_target_status %d rows: nothing to compare", len(coverage), len(status))
	}
	for _, c := range verify(t, f, "") {
		if c.Mismatch != nil {
			t.Fatalf("before retention: %+v", c)
		}
	}

	if _, err := load.DropScanHistory(ctx, f.pool, 24*time.Hour, end, nil); err == nil {
		t.Error("a retention of a day was accepted")
	}
	dropped, err := load.DropScanHistory(ctx, f.pool, retention, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 2 {
		t.Fatalf("dropped %+v, want sessions of both tenants", dropped)
	}
	var sessions int64
	for _, d := range dropped {
		sessions += d.Sessions
		if d.Targets == 0 {
			t.Errorf("%s: no target dropped with %d sessions", d.TenantID, d.Sessions)
		}
	}
	left := count(`scanned_at < $1`, cutoff)
	if int64(old-left) != sessions || left >= old/4 {
		t.Errorf("%d sessions before the cutoff, %d kept, %d reported dropped", old, left, sessions)
	}
	var orphans int
	if err := f.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM defender_storage.target_result t
		         WHERE NOT EXISTS (SELECT FROM defender_storage.session_result s WHERE s.session_key = t.session_key))
		     + (SELECT count(*) FROM defender_storage.session_write w
		         WHERE NOT EXISTS (SELECT FROM defender_storage.session_result s WHERE s.session_key = w.session_key))`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d targets or writes of dropped sessions remain", orphans)
	}
	if got := answers(t, f, "defender.scan_coverage"); strings.Join(got, "\n") != strings.Join(coverage, "\n") {
		t.Errorf("scan_coverage changed:\nbefore %s\nafter  %s", strings.Join(coverage, "\n       "), strings.Join(got, "\n       "))
	}
	if got := answers(t, f, "defender.scan_target_status"); strings.Join(got, "\n") != strings.Join(status, "\n") {
		t.Errorf("scan_target_status changed:\nbefore %s\nafter  %s", strings.Join(status, "\n       "), strings.Join(got, "\n       "))
	}
	if m := dbtest.TargetStatusMismatches(t, f.pool); len(m) > 0 {
		t.Errorf("target_status differs from its definition after retention:\n%s", strings.Join(m, "\n"))
	}
	history := 0
	for _, c := range verify(t, f, "") {
		if c.Mismatch != nil {
			t.Fatalf("after retention: %+v", c)
		}
		if c.Resource == "history" {
			history += c.SessionsDropped
		}
	}
	if history == 0 {
		t.Error("verify counted no history run whose sessions were dropped")
	}
	// A second pass finds nothing more to drop.
	if again, err := load.DropScanHistory(ctx, f.pool, retention, end, nil); err != nil || len(again) != 0 {
		t.Errorf("a second pass dropped %+v (err %v)", again, err)
	}

	// The next day's sync reads the week back: nothing dropped comes back.
	loader, err := load.New(f.pool, load.Config{TenantID: synced[0].TenantID, Now: func() time.Time { return end.Add(24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	fleet := defendertest.NewFleet(3, 40, synced[0].Start)
	if _, err := loader.SyncHistory(ctx, loadtest.History(fleet, end.Add(24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := count(`scanned_at < $1`, cutoff); n != left {
		t.Errorf("after the next sync, %d sessions before the cutoff, want the %d kept", n, left)
	}

	// A kept session edited afterwards is still found.
	if _, err := f.pool.Exec(ctx, `
		UPDATE defender_storage.session_result SET status = 'Success'
		 WHERE session_key = (SELECT max(session_key) FROM defender_storage.session_result
		                       WHERE tenant_id = $1 AND status <> 'Success' AND scanned_at > $2)`, synced[1].TenantID, cutoff); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range verify(t, f, synced[1].TenantID) {
		found = found || c.Mismatch != nil
	}
	if !found {
		t.Error("verify found no mismatch after a kept session was edited")
	}
}

// TestScanCoverageMigrationKeepsEveryRowAndAnswer: 00020 (scan_coverage
// from definition_coverage) changes no stored row and no answer, and
// neither does rolling it back.
func TestScanCoverageMigrationKeepsEveryRowAndAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 20, nil, func(pool *pgxpool.Pool) { // 00020_scan_history_retention.sql
		var covered int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM defender_storage.definition_coverage`).Scan(&covered); err != nil || covered == 0 {
			t.Errorf("definition_coverage holds %d rows after the upgrade (err %v)", covered, err)
		}
	})
}

// TestScanViewsMigrationKeepsEveryRowAndAnswer: 00022 (scan_target_status
// from target_status, the per-customer filter on the rows the scan views
// start from) changes no stored row and no answer, for the owner,
// defender_reader and a role given one tenant, and neither does rolling it
// back; target_status then holds what its definition says.
func TestScanViewsMigrationKeepsEveryRowAndAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 22, nil, func(pool *pgxpool.Pool) { // 00022_scan_views_at_many_tenants.sql
		var stored int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM defender_storage.target_status`).Scan(&stored); err != nil || stored < 3 {
			t.Errorf("target_status holds %d rows after the upgrade (err %v)", stored, err)
		}
		if m := dbtest.TargetStatusMismatches(t, pool); len(m) > 0 {
			t.Errorf("target_status differs from its definition after the upgrade:\n%s", strings.Join(m, "\n"))
		}
	})
}

// migrationKeepsEveryAnswer syncs several tenants of every resource at the
// latest schema, migrates down to the schema before version, and checks
// that migrating up to version, then down again, changes no stored row
// (of the tables before it) and no answer of any view, of
// scan_agents_as_of at the syncs' times or of scan_agents_diff between
// them, as the owner, as a member of defender_reader and as a role given
// one tenant. fill, unless nil, adds to the tenants before the migration
// is rolled back; upgraded, unless nil, runs after the upgrade.
func migrationKeepsEveryAnswer(t *testing.T, version int64, fill, upgraded func(*pgxpool.Pool)) {
	t.Helper()
	migrationRewritesKeepingEveryAnswer(t, version, fill, upgraded, nil)
}

// migrationRewritesKeepingEveryAnswer is migrationKeepsEveryAnswer for a
// migration that stores some tables' rows anew (their row versions
// change): rewritten names each such table of the schema before version,
// with a query of its rows that must answer the same before, after the
// migration (which may have made it a view) and after rolling it back.
func migrationRewritesKeepingEveryAnswer(t *testing.T, version int64, fill, upgraded func(*pgxpool.Pool), rewritten map[string]string) {
	t.Helper()
	ctx := context.Background()
	pool, p := interleavedTenantsAt(t, goose.MaxVersion)
	if _, err := pool.Exec(ctx, `SELECT defender.grant_tenant_access($1, 'fabrikam.example')`, dbtest.TenantReaderRole); err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		fill(pool)
	}
	if _, err := p.DownTo(ctx, version-1); err != nil {
		t.Fatal(err)
	}
	reader := dbtest.ReaderPool(t, pool.Config().ConnString())
	customer := dbtest.TenantReaderPool(t, pool.Config().ConnString())
	var tables, views []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relkind = 'r'),
		       array_agg(oid::regclass::text ORDER BY oid::regclass::text) FILTER (WHERE relnamespace = 'defender'::regnamespace)
		  FROM pg_class
		 WHERE relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace) AND relkind IN ('r', 'v')`).Scan(&tables, &views); err != nil {
		t.Fatal(err)
	}
	// The documented functions too: the fleet as of every agents sync (and
	// before the first), the diff from the first of those times to each,
	// and from each to the next.
	var times []time.Time
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(t ORDER BY t) FROM (
		    SELECT DISTINCT fetched_at AS t FROM defender.sync_runs WHERE resource = 'agents'
		    UNION SELECT min(fetched_at) - interval '1 second' FROM defender.sync_runs) q`).Scan(&times); err != nil {
		t.Fatal(err)
	}
	if len(times) < 4 {
		t.Fatalf("%d agents syncs: the fixture is too thin", len(times)-1)
	}
	tables = slices.DeleteFunc(tables, func(table string) bool { _, ok := rewritten[table]; return ok })
	if len(rewritten) > 0 && len(tables) == 0 {
		t.Fatal("every table is rewritten: the catalog query is wrong")
	}
	questions := map[string]string{}
	for _, v := range views {
		questions[v] = `SELECT * FROM ` + v
	}
	at := func(when time.Time) string { return "'" + when.UTC().Format(time.RFC3339Nano) + "'" }
	diff := func(from, to time.Time) {
		questions["scan_agents_diff "+at(from)+" "+at(to)] = `SELECT * FROM defender.scan_agents_diff(` + at(from) + `, ` + at(to) + `)`
	}
	for i, when := range times {
		questions["scan_agents_as_of "+at(when)] = `SELECT * FROM defender.scan_agents_as_of(` + at(when) + `)`
		diff(times[0], when)
		if i > 0 {
			diff(times[i-1], when)
		}
	}
	answers := func() map[string]string {
		out := map[string]string{}
		for name, q := range questions {
			out[name+" as owner"] = dbtest.Answer(t, pool, q)
			out[name+" as defender_reader"] = dbtest.Answer(t, reader, q)
			out[name+" as a role given one tenant"] = dbtest.Answer(t, customer, q)
		}
		for table, q := range rewritten { // storage: the owner's alone
			out["the rows of "+table] = dbtest.Answer(t, pool, q)
		}
		return out
	}
	rowsBefore, before := dbtest.RowVersions(t, pool, tables...), answers()
	latest := times[len(times)-1]
	for _, v := range []string{"defender.scan_coverage", "defender.scan_target_status", "defender.scan_agent_observations",
		"scan_agents_as_of " + at(latest), "scan_agents_diff " + at(times[0]) + " " + at(latest)} {
		for _, who := range []string{" as defender_reader", " as a role given one tenant"} {
			if strings.Count(before[v+who], "\n") < 3 {
				t.Fatalf("%s%s answers %q: the fixture is too thin", v, who, before[v+who])
			}
		}
		if before[v+" as defender_reader"] == before[v+" as a role given one tenant"] {
			t.Fatalf("%s: the role given one tenant sees what defender_reader sees", v)
		}
	}
	compare := func(when string) {
		t.Helper()
		if got := dbtest.RowVersions(t, pool, tables...); got != rowsBefore {
			t.Errorf("%s: stored rows changed", when)
		}
		for name, got := range answers() {
			if got != before[name] {
				t.Errorf("%s: %s answers differently\nbefore:\n%.2000s\nafter:\n%.2000s", when, name, before[name], got)
			}
		}
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	compare(fmt.Sprintf("after %05d", version))
	if upgraded != nil {
		upgraded(pool)
	}
	if _, err := p.DownTo(ctx, version-1); err != nil {
		t.Fatal(err)
	}
	compare(fmt.Sprintf("after rolling %05d back", version))
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAsOfPlanKeptMigrationKeepsEveryAnswer: 00026 (scan_agents_as_of's
// statement planned once per session) changes no stored row and no answer
// of scan_agents_as_of or scan_agents_diff at the syncs' times, for the
// owner, defender_reader and a role given one tenant, and neither does
// rolling it back.
func TestAsOfPlanKeptMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 26, nil, nil) // 00026_as_of_plan_kept.sql
}

// TestVersionDriftMigrationKeepsEveryAnswer: 00027 (version_drift's
// versions per tenant) changes no answer of any view or function, on the
// interleaved tenants and on tenants whose versions hold every case the
// view orders: spellings of one version, versions with no numeric form,
// none at all, and the newest version on an agent since deleted. As the
// owner, defender_reader and a role given one tenant (and one of those),
// up and down.
func TestVersionDriftMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 27, func(pool *pgxpool.Pool) { // 00027_version_drift_by_tenant.sql
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		fleets := map[string][][2]string{ // per tenant, each agent's client and scanner versions
			"alpha.example": {{"10.8295.22621.1010", "1.2.3"}, {"10.10000", "1.2.3.0"}, {"10.10000.0.0", "x"},
				{"beta-7", "2.0"}, {"", ""}, {"10.8295.22621.1010", "2.0"}},
			"beta.example":  {{"dev", "3.1"}, {"dev2", "3.10"}, {"dev", ""}},
			"gamma.example": {{"4.18.1", "1.0"}, {"4.18.2", "1.1"}, {"4.18.10", "1.0"}},
		}
		for _, id := range []string{"alpha.example", "beta.example", "gamma.example"} {
			loader, err := load.New(pool, load.Config{TenantID: id, Logger: slog.New(slog.DiscardHandler),
				Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			recs := agents(len(fleets[id]))
			for i, v := range fleets[id] {
				recs[i].MDEClientVersion, recs[i].ScannerSoftwareVersion = scanagent.Version(v[0]), scanagent.Version(v[1])
			}
			if _, err := loader.Sync(ctx, listOf(recs...)); err != nil {
				t.Fatal(err)
			}
			if id == "gamma.example" { // the agent of the newest client version leaves
				now = now.Add(time.Hour)
				if _, err := loader.Sync(ctx, listOf(recs[:2]...)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := pool.Exec(ctx, `SELECT defender.grant_tenant_access($1, 'alpha.example')`, dbtest.TenantReaderRole); err != nil {
			t.Fatal(err)
		}
		if n := dbtest.Answer(t, pool, `SELECT * FROM defender.version_drift WHERE tenant_id IN ('alpha.example', 'beta.example', 'gamma.example')`); strings.Count(n, "\n") < 10 {
			t.Fatalf("version_drift of the crafted tenants:\n%s", n)
		}
	}, nil)
}

// TestObservationsByPositionMigrationKeepsEveryAnswer: 00028
// (scan_agent_observations reads an agent's timestamps at its position)
// changes no answer, for the owner, defender_reader and a role given one
// tenant, up and down; an observation whose timestamp arrays were stored
// with another lower bound reads as before.
func TestObservationsByPositionMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 28, func(pool *pgxpool.Pool) { // 00028_observations_by_position.sql
		tag, err := pool.Exec(context.Background(), `
			UPDATE defender_storage.observation o
			   SET last_seen = (pg_catalog.format('[0:%s]=', cardinality(last_seen) - 1) || last_seen::text)::timestamptz[],
			       last_command_execution_at = (pg_catalog.format('[5:%s]=', cardinality(last_seen) + 4) || last_command_execution_at::text)::timestamptz[]
			 WHERE cardinality(agent_nos) > 1
			   AND run_id = (SELECT max(run_id) FROM defender_storage.observation WHERE cardinality(agent_nos) > 1)`)
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != 1 {
			t.Fatalf("%d observations given other lower bounds", tag.RowsAffected())
		}
	}, nil)
}

// TestDigestPartsByResourceMigrationKeepsEveryAnswer: 00029 (a sync's run
// digests the parts its resource writes) changes no stored row and no
// answer, up and down.
func TestDigestPartsByResourceMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 29, nil, nil) // 00029_digest_parts_by_resource.sql
}

// TestAsOfAgentsByKeyMigrationKeepsEveryAnswer: 00030 (scan_agents_as_of
// finds each version's agent by its key) changes no answer of
// scan_agents_as_of or scan_agents_diff at the syncs' times, for the
// owner, defender_reader and a role given one tenant, up and down.
func TestAsOfAgentsByKeyMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 30, nil, nil) // 00030_as_of_agents_by_key.sql
}

// TestDiffReadsNoObservationsMigrationKeepsEveryAnswer: 00031 (each side
// of scan_agents_diff read without observations, joined by key; an index
// of the live agents) changes no answer, up and down. The fixture's diffs
// between consecutive agents syncs hold every kind of change, so that the
// comparison covers each way the diff classifies an agent.
func TestDiffReadsNoObservationsMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 31, func(pool *pgxpool.Pool) { // 00031_diff_reads_no_observations.sql
		var kinds []string
		if err := pool.QueryRow(context.Background(), `
			WITH times AS (SELECT DISTINCT fetched_at AS t FROM defender.sync_runs WHERE resource = 'agents'),
			     pairs AS (SELECT lag(t) OVER (ORDER BY t) AS f, t FROM times)
			SELECT array_agg(DISTINCT d.change ORDER BY d.change)
			  FROM pairs CROSS JOIN LATERAL defender.scan_agents_diff(pairs.f, pairs.t) d
			 WHERE pairs.f IS NOT NULL`).Scan(&kinds); err != nil {
			t.Fatal(err)
		}
		if want := []string{"appeared", "changed", "deleted", "returned"}; !slices.Equal(kinds, want) {
			t.Fatalf("the fixture's diffs between consecutive syncs hold %v, want %v", kinds, want)
		}
	}, nil)
}

// TestVisibleTenantsOnceMigrationKeepsEveryAnswer: 00032 (each view asks
// once which tenants its caller may see, and compares with an array built
// for the query) changes no answer of any view or documented function for
// the owner, defender_reader and a role given one tenant, up and down.
func TestVisibleTenantsOnceMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 32, nil, nil) // 00032_visible_tenants_once.sql
}

// TestDigestInOneFunctionMigration: 00033 (record_run_digest computes a
// run's parts itself, and records sessions only for the runs that write
// them) stores what schema 32's function stored: the same syncs of tenants
// through every case, at schema 32 in one database and at 33 in another,
// leave the same digests, kept parts, chain links and session writes, and
// so does computing every digest again as an upgrade does. And it changes
// no answer, up and down.
func TestDigestInOneFunctionMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stored := func(version int64) (synced, atUpgrade string) {
		t.Helper()
		pool, _ := interleavedTenantsAt(t, version)
		// A tenant whose syncs change nothing but heartbeats: runs of agents
		// and of definitions that wrote no version (their short statements).
		now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		loader, err := load.New(pool, load.AtSchema(load.Config{TenantID: "steady.example", Logger: slog.New(slog.DiscardHandler),
			Now: func() time.Time { return now }}, version))
		if err != nil {
			t.Fatal(err)
		}
		fleet, defs := agents(6), definitions(2)
		ran := now.Add(-30 * time.Minute)
		defs[0].LatestScan = &scanagent.LatestScan{Status: "Success", ExecutedAt: ran}
		h := &history{sessions: []scanagent.ScanSession{session(defs[1], 1, ran, [2]string{"10.0.1.1", "Success"})}}
		for round := range 3 {
			fleet[round].LastSeen = now
			if _, err := loader.Sync(ctx, listOf(fleet...)); err != nil {
				t.Fatal(err)
			}
			if _, err := loader.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil {
				t.Fatal(err)
			}
			if _, err := loader.SyncHistory(ctx, h); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Hour)
		}
		if kinds, want := digestedRunKinds(t, pool), "a+ a- d+ d- h+ h-"; kinds != want {
			t.Fatalf("digested runs that wrote (+) and did not (-): %s, want %s", kinds, want)
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		read := func() string {
			t.Helper()
			var digests, writes string
			if err := tx.QueryRow(ctx, `
				SELECT (SELECT string_agg(format('%s<-%s %s %s %s', run_id, previous_run_id, encode(digest, 'hex'), encode(parts, 'hex'), computed_at_upgrade), E'\n' ORDER BY run_id)
				          FROM defender_storage.run_digest),
				       (SELECT string_agg(format('%s %s %s', run_id, session_key, encode(values_digest, 'hex')), E'\n' ORDER BY run_id, session_key)
				          FROM defender_storage.session_write)`).Scan(&digests, &writes); err != nil {
				t.Fatal(err)
			}
			return digests + "\n" + writes
		}
		synced = read()
		// And as an upgrade computes them (every writer of a session, the
		// canonical parts), every run again in order, rolled back.
		if _, err := tx.Exec(ctx, `DELETE FROM defender_storage.session_write; DELETE FROM defender_storage.run_digest`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `
			DO $$
			DECLARE run bigint;
			BEGIN
			    FOR run IN SELECT run_id FROM defender_storage.sync_run WHERE status = 's' ORDER BY run_id LOOP
			        PERFORM defender_storage.record_run_digest(run, true);
			    END LOOP;
			END $$`); err != nil {
			t.Fatal(err)
		}
		return synced, read()
	}
	synced, atUpgrade := stored(32)
	if n := strings.Count(synced, "\n"); n < 110 {
		t.Fatalf("%d digests and session writes: the fixture is too thin", n)
	}
	if strings.Count(atUpgrade, " t\n") < 100 || strings.Contains(atUpgrade, " f\n") {
		t.Fatalf("of the digests computed again, %d are marked as computed at an upgrade, %d not",
			strings.Count(atUpgrade, " t\n"), strings.Count(atUpgrade, " f\n"))
	}
	gotSynced, gotAtUpgrade := stored(33)
	if gotSynced != synced {
		t.Errorf("digests and session writes stored by syncs at schema 33 differ from schema 32's: %s", dbtest.FirstDifference(synced, gotSynced))
	}
	if gotAtUpgrade != atUpgrade {
		t.Errorf("digests and session writes computed as at an upgrade at schema 33 differ from schema 32's: %s", dbtest.FirstDifference(atUpgrade, gotAtUpgrade))
	}
	migrationKeepsEveryAnswer(t, 33, nil, nil) // 00033_digest_in_one_function.sql
}

// TestTargetStatusByKeyMigrationKeepsEveryAnswer: 00034 (target_status_of
// finds each target's latest session and target by their keys) agrees
// with the rows schema 33's refreshes stored, and changes no answer, up
// and down.
func TestTargetStatusByKeyMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := interleavedTenantsAt(t, 33)
	if _, err := p.UpTo(ctx, 34); err != nil {
		t.Fatal(err)
	}
	if m := dbtest.TargetStatusMismatches(t, pool); len(m) > 0 {
		t.Errorf("target_status as schema 33 stored it differs from 00034's definition:\n%s", strings.Join(m, "\n"))
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM defender_storage.target_status`).Scan(&n); err != nil || n < 10 {
		t.Errorf("target_status holds %d rows (err %v): the fixture is too thin", n, err)
	}
	migrationKeepsEveryAnswer(t, 34, nil, nil) // 00034_target_status_by_key.sql
}

// TestFleetDailyPlanKeptMigration: 00035 (refresh_fleet_daily in
// PL/pgSQL, its statements planned once per session) writes what schema
// 34's function wrote: the same syncs of tenants through every case, at
// schema 34 in one database and at 35 in another, leave the same daily
// counts and versions. And it changes no answer, up and down.
func TestFleetDailyPlanKeptMigration(t *testing.T) {
	t.Parallel()
	storesTheSame(t, 35, "daily counts", 20, nil,
		`SELECT * FROM defender_storage.tenant_daily`,
		`SELECT * FROM defender_storage.tenant_daily_version`)
	migrationKeepsEveryAnswer(t, 35, nil, nil) // 00035_fleet_daily_plan_kept.sql
}

// TestTargetStatusOfARunMigration: from 00036 on, a history sync
// refreshes target_status for the targets its sessions touch, not every
// target of its tenant: the same syncs of tenants through every case, at
// schema 35 (every target refreshed) in one database and at 36 in
// another, store the same rows, and at 36 they are what the definition
// computes for every target. And it changes no answer, up and down.
func TestTargetStatusOfARunMigration(t *testing.T) {
	t.Parallel()
	storesTheSame(t, 36, "target_status", 10, func(pool *pgxpool.Pool) {
		if m := dbtest.TargetStatusMismatches(t, pool); len(m) > 0 {
			t.Errorf("target_status as the history syncs refreshed it differs from its definition:\n%s", strings.Join(m, "\n"))
		}
	}, `SELECT * FROM defender_storage.target_status`)
	migrationKeepsEveryAnswer(t, 36, nil, nil) // 00036_target_status_of_a_run.sql
}

// TestDefinitionCoveragePlanKeptMigration: 00037 (cover_definitions
// keeps one generic plan; its statement does not change) changes no
// answer, up and down.
func TestDefinitionCoveragePlanKeptMigration(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 37, nil, nil) // 00037_definition_coverage_plan_kept.sql
}

// TestStartRunInOneCallMigration: from 00038 on, a sync records each
// run's start in one call of defender_storage.start_run: the same syncs
// at schema 37 (in steps) and at 38 record the same runs, tenants and
// leases, and it changes no answer, up and down.
func TestStartRunInOneCallMigration(t *testing.T) {
	t.Parallel()
	storesTheSame(t, 38, "runs, tenants and leases", 100, nil,
		`SELECT run_id, started_at, fetched_at, finished_at, previous_sync_at, tenant_no, resource, status, error,
		        records_seen, records_inserted, records_changed, api_requests
		   FROM defender_storage.sync_run`,
		`SELECT tenant_no, tenant_id, display_name FROM defender_storage.tenants`,
		`SELECT tenant_id FROM defender_storage.tenant_leases`)
	migrationKeepsEveryAnswer(t, 38, nil, nil) // 00038_start_run_in_one_call.sql
}

// TestTargetsStoredOnceMigration: from 00039 on, each tenant's targets
// are stored once (scan_target) and each session's name theirs
// (session_target). The same syncs at schema 38 and at 39 show the same
// targets, coverage, target status and run digests, each target once per
// tenant at 39. Upgrading what the latest schema stored, then rolling it
// back, changes no answer and no target, and every run digest still
// verifies after each.
func TestTargetsStoredOnceMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const targetRows = `SELECT t::text FROM defender_storage.target_result t ORDER BY session_key, ordinal`
	storesTheSame(t, 39, "targets, their coverage and status, and run digests", 100, func(pool *pgxpool.Pool) {
		var targets, distinct, scanned int
		if err := pool.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM defender_storage.scan_target),
			       (SELECT count(*) FROM (SELECT DISTINCT s.tenant_id, t.ip, t.hostname, t.description
			                                FROM defender_storage.target_result t
			                                JOIN defender_storage.session_result s USING (session_key)) d),
			       (SELECT count(*) FROM defender_storage.session_target)`).Scan(&targets, &distinct, &scanned); err != nil {
			t.Fatal(err)
		}
		if targets != distinct || scanned <= targets {
			t.Errorf("%d stored targets for %d distinct ones in %d scans; want each once", targets, distinct, scanned)
		}
	},
		targetRows,
		`SELECT * FROM defender_storage.target_coverage ORDER BY tenant_id, target, definition_id`,
		`SELECT * FROM defender_storage.target_status ORDER BY tenant_id, target`,
		`SELECT run_id, digest, parts FROM defender_storage.run_digest ORDER BY run_id`)
	migrationRewritesKeepingEveryAnswer(t, 39, func(pool *pgxpool.Pool) {
		chainsVerified(t, pool, "at schema 39")
	}, func(pool *pgxpool.Pool) {
		chainsVerified(t, pool, "after the upgrade")
	}, map[string]string{ // 00039_targets_stored_once.sql
		"defender_storage.target_result": targetRows,
	})
}

// TestLeaseTakenInOneCallMigration: from 00040 on, a sync takes its
// tenant's lease in one call of defender_storage.take_tenant_lease: the
// same syncs at schema 39 (the statement) and at 40 record the same
// tenants, leases and runs, and it changes no answer, up and down.
func TestLeaseTakenInOneCallMigration(t *testing.T) {
	t.Parallel()
	storesTheSame(t, 40, "tenants, leases and runs", 100, nil,
		`SELECT tenant_no, tenant_id, display_name, last_run_id FROM defender_storage.tenants`,
		`SELECT tenant_id FROM defender_storage.tenant_leases`,
		`SELECT run_id, tenant_no, resource, status, error, records_seen FROM defender_storage.sync_run`)
	migrationKeepsEveryAnswer(t, 40, nil, nil) // 00040_lease_taken_in_one_call.sql
}

// TestZeroCountsStoredAsNullMigration: at schema 41 a run's counts of 0
// are stored as null; the same syncs show the same runs in sync_runs and
// chain the same digests as at 40, and the upgrade and its rollback (which
// writes 0 into the counts stored as null) change no answer and leave
// every chain verified.
func TestZeroCountsStoredAsNullMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const runs = `SELECT * FROM defender.sync_runs ORDER BY run_id`
	storesTheSame(t, 41, "runs and their digests", 100, func(pool *pgxpool.Pool) {
		var nulls, counts int
		if err := pool.QueryRow(ctx, `
			SELECT sum(num_nulls(records_seen, records_inserted, records_changed, records_unchanged, records_deleted,
			                     records_rejected, heartbeat_only, deletions_withheld, targets_inserted, fields_repaired,
			                     api_requests)), 11 * count(*)
			  FROM defender_storage.sync_run`).Scan(&nulls, &counts); err != nil {
			t.Fatal(err)
		}
		if nulls == 0 || nulls == counts {
			t.Errorf("%d of %d counts stored as null; want those of 0 alone", nulls, counts)
		}
	},
		`SELECT run_id, tenant_id, resource, status, fetched_at, previous_sync_at, error,
		        agents_seen, agents_inserted, agents_changed, agents_unchanged, agents_deleted, agents_rejected,
		        agents_heartbeat_only, deletions_withheld, api_requests, records_seen, records_inserted,
		        records_changed, records_unchanged, records_deleted, records_rejected, targets_inserted, fields_repaired
		   FROM defender.sync_runs ORDER BY run_id`,
		`SELECT run_id, digest, parts FROM defender_storage.run_digest ORDER BY run_id`)
	migrationRewritesKeepingEveryAnswer(t, 41, func(pool *pgxpool.Pool) {
		chainsVerified(t, pool, "at schema 40")
	}, func(pool *pgxpool.Pool) {
		chainsVerified(t, pool, "after the upgrade")
	}, map[string]string{ // 00041_zero_counts_stored_as_null.sql
		"defender_storage.sync_run": runs,
	})
}

// chainsVerified fails unless every chain of run digests of the
// interleaved tenants (six at least) verifies; when names the moment.
func chainsVerified(t *testing.T, pool *pgxpool.Pool, when string) {
	t.Helper()
	chains, err := load.Verify(context.Background(), pool, "")
	if err != nil {
		t.Fatal(err)
	}
	if !load.Verified(chains) || len(chains) < 6 {
		t.Errorf("%s: %d chains, verified %v: %+v", when, len(chains), load.Verified(chains), chains)
	}
}

// storesTheSame syncs the interleaved tenants at schema version-1 in one
// database and at version in another (the loader calling what each
// has), and fails unless queries answer the same in both, with at least
// minRows rows in all (what names them in messages). check, when not
// nil, looks further at the database at version.
func storesTheSame(t *testing.T, version int64, what string, minRows int, check func(*pgxpool.Pool), queries ...string) {
	t.Helper()
	stored := func(at int64) string {
		t.Helper()
		pool, _ := interleavedTenantsAt(t, at)
		var b strings.Builder
		for _, q := range queries {
			b.WriteString(dbtest.Answer(t, pool, q))
		}
		if check != nil && at == version {
			check(pool)
		}
		return b.String()
	}
	want := stored(version - 1)
	if n := strings.Count(want, "\n"); n < minRows {
		t.Fatalf("%d rows of %s: the fixture is too thin", n, what)
	}
	if got := stored(version); got != want {
		t.Errorf("%s stored at schema %d differ from schema %d's: %s", what, version, version-1, dbtest.FirstDifference(want, got))
	}
}

// interleavedTenantsAt migrates a new database to schema version
// (goose.MaxVersion: the latest) and syncs the interleaved tenants there
// (syncInterleavedTenants), so that a test can compare what two schemas
// write for the same syncs, or upgrade from what the earlier one wrote.
func interleavedTenantsAt(t *testing.T, version int64) (*pgxpool.Pool, *goose.Provider) {
	t.Helper()
	pool, p := dbtest.Unmigrated(t)
	if _, err := p.UpTo(context.Background(), version); err != nil {
		t.Fatal(err)
	}
	syncInterleavedTenants(t, pool, version)
	return pool, p
}

// TestDigestReadingWhatItKeptKeepsEveryAnswer: 00044 (a run's digest
// reads the session digests it just kept, and each target's values once)
// changes no stored row and no answer, nor does rolling it back; the
// chains, recorded by syncs at 44 (sessions recorded, completed and
// corrected, with targets), verify after the upgrade: the canonical
// computation gives their digests again.
func TestDigestReadingWhatItKeptKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 44, nil, func(pool *pgxpool.Pool) { // 00044_digest_reads_what_it_kept.sql
		chainsVerified(t, pool, "after the upgrade")
	})
}

// TestInlinedOutcomeMigrationKeepsEveryAnswer: 00043 (scan_outcome and
// version_key inlined) changes no stored row and no answer of any view,
// of scan_agents_as_of or of scan_agents_diff, for the owner,
// defender_reader and a role given one tenant, and neither does rolling
// it back; the chains of run digests verify after the upgrade.
func TestInlinedOutcomeMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	migrationKeepsEveryAnswer(t, 43, nil, func(pool *pgxpool.Pool) { // 00043_outcome_and_version_key_inlined.sql
		chainsVerified(t, pool, "after the upgrade")
		if m := dbtest.TargetStatusMismatches(t, pool); len(m) > 0 {
			t.Errorf("target_status differs from its definition after the upgrade:\n%s", strings.Join(m, "\n"))
		}
	})
}
