package load_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
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

// syncQuietTenants syncs two tenants' agents, scan definitions and scan
// history every hour for two and a half days, ending at end. Most syncs
// see what the previous one saw (runs that change nothing); every
// eleventh hour the fleet moves on (new heartbeats, sessions and
// changes), and two agents syncs of each tenant fail.
func syncQuietTenants(t *testing.T, pool *pgxpool.Pool, end time.Time) {
	t.Helper()
	ctx := context.Background()
	const hours = 60
	now := end.Add(-hours * time.Hour)
	for i, id := range []string{"quiet-a.example", "quiet-b.example"} {
		loader, err := load.New(pool, load.Config{TenantID: id, Logger: slog.New(slog.DiscardHandler),
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		fleet := defendertest.NewFleet(int64(i+7), 12, now.Add(-48*time.Hour))
		seen := now
		for h := range hours {
			now = end.Add(time.Duration(h-hours)*time.Hour + time.Duration(i)*time.Minute)
			if h%11 == 0 {
				seen = now
			}
			var recs []scanagent.Record
			for _, a := range fleet.AgentsAt(seen) {
				recs = append(recs, a.Record())
			}
			if h == 5 || h == 17 {
				broken := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
					return scanagent.ListStats{Requests: 1}, errors.New("simulated listing broken off")
				}
				if _, err := loader.Sync(ctx, broken); err == nil {
					t.Fatal("a broken listing synced")
				}
			}
			if _, err := loader.Sync(ctx, listOf(recs...)); err != nil {
				t.Fatalf("hour %d, %s: %v", h, id, err)
			}
			if _, err := loader.SyncDefinitions(ctx, loadtest.Definitions(fleet, seen)); err != nil {
				t.Fatalf("hour %d, %s definitions: %v", h, id, err)
			}
			if _, err := loader.SyncHistory(ctx, loadtest.History(fleet, seen)); err != nil {
				t.Fatalf("hour %d, %s history: %v", h, id, err)
			}
		}
	}
}

// retainedAnswers are the answers run retention must leave as they were:
// every view of schema defender but the runs and their digests, and the
// fleet as of every agents sync's fetch time (but the sync it names).
func retainedAnswers(t *testing.T, pool *pgxpool.Pool, times []time.Time) map[string]string {
	t.Helper()
	ctx := context.Background()
	var views []string
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(oid::regclass::text ORDER BY oid::regclass::text) FROM pg_class
		 WHERE relnamespace = 'defender'::regnamespace AND relkind IN ('r', 'v', 'p')
		   AND relname NOT IN ('sync_runs', 'run_digests')`).Scan(&views); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range views {
		out[v] = dbtest.Answer(t, pool, fmt.Sprintf(`SELECT v::text FROM %s v ORDER BY v::text COLLATE "C"`, v))
	}
	for _, at := range times {
		out["scan_agents_as_of "+at.Format(time.RFC3339Nano)] = dbtest.Answer(t, pool, fmt.Sprintf(`
			SELECT tenant_id, agent_id, machine_id, computer_dns_name, scanner_software_version, mde_client_version,
			       last_seen, last_command_execution_at, extra
			  FROM defender.scan_agents_as_of('%s') ORDER BY 1, 2`, at.Format(time.RFC3339Nano)))
	}
	return out
}

// TestDropRunsKeepsChainsAndAnswers: RUN_RETENTION drops the runs past it
// that nothing refers to (runs that changed nothing, failed runs but the
// latest), keeps every run something refers to and each chain's head, and
// changes no answer but the runs listed: the fleet as of every sync's
// time is the same. Every chain still verifies, through the runs dropped;
// an edit of what was kept of a dropped run, of a run before the ones
// dropped (even with its digest recomputed), or the removal of a stretch,
// is found. A second pass drops nothing more, a later one chains a new
// stretch to the first, and the schema cannot be rolled back over them.
func TestDropRunsKeepsChainsAndAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := dbtest.Unmigrated(t)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{pool: pool}
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	syncQuietTenants(t, f.pool, end)
	var times []time.Time
	if err := f.pool.QueryRow(ctx, `SELECT array_agg(fetched_at ORDER BY fetched_at) FROM defender.sync_runs
	                                 WHERE resource = 'agents' AND status = 'succeeded'`).Scan(&times); err != nil {
		t.Fatal(err)
	}
	before := retainedAnswers(t, f.pool, times)
	keptRuns := func() string {
		return dbtest.Answer(t, f.pool, `SELECT r::text FROM defender.sync_runs r ORDER BY run_id`)
	}
	runsBefore := keptRuns()
	var runs, failed int
	if err := f.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'failed') FROM defender.sync_runs`).Scan(&runs, &failed); err != nil {
		t.Fatal(err)
	}
	if failed != 4 {
		t.Fatalf("%d failed runs, want 4", failed)
	}

	// The first runs' digests as the upgrade to digests would have
	// computed them: verify still counts them once dropped.
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.run_digest SET computed_at_upgrade = true
	                                WHERE run_id IN (SELECT run_id FROM defender_storage.run_digest ORDER BY run_id LIMIT 30)`); err != nil {
		t.Fatal(err)
	}
	if _, err := load.DropRuns(ctx, f.pool, 24*time.Hour, end, nil); err == nil {
		t.Error("a run retention of a day was accepted")
	}
	// The first pass: the runs of the first day and a half.
	firstCutoff := end.Add(-24 * time.Hour)
	dropped, err := load.DropRuns(ctx, f.pool, load.MinRunRetention, firstCutoff.Add(load.MinRunRetention), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ok, bad int64
	for _, d := range dropped {
		ok, bad = ok+d.Succeeded, bad+d.Failed
	}
	if len(dropped) != 2 || bad != 2 || ok < int64(runs)/3 {
		t.Fatalf("dropped %+v of %d runs; want many runs of both tenants and the failure before their latest", dropped, runs)
	}
	verified := func(when string) []load.ChainVerification {
		t.Helper()
		chains := verify(t, f, "")
		if !load.Verified(chains) || len(chains) != 6 {
			t.Fatalf("%s: %+v", when, chains)
		}
		return chains
	}
	var throughDropped, atUpgrade int
	for _, c := range verified("after the first pass") {
		throughDropped += c.RunsDropped
		atUpgrade += c.ComputedAtUpgrade
	}
	if atUpgrade != 30 {
		t.Errorf("verify counts %d runs whose digest the upgrade computed, want 30", atUpgrade)
	}
	if int64(throughDropped) != ok {
		t.Errorf("verify chained through %d dropped runs, %d were dropped", throughDropped, ok)
	}
	// What is left: every run something refers to, each chain's head.
	var orphans, stretches int
	if err := f.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM defender_storage.run_digest d
		         WHERE d.previous_run_id IS NOT NULL
		           AND NOT EXISTS (SELECT FROM defender_storage.run_digest p WHERE p.run_id = d.previous_run_id)
		           AND NOT EXISTS (SELECT FROM defender_storage.runs_dropped s WHERE s.last_run_id = d.previous_run_id)),
		       (SELECT count(*) FROM defender_storage.runs_dropped)`).Scan(&orphans, &stretches); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || stretches == 0 {
		t.Errorf("%d digests chain a run neither kept nor dropped; %d stretches", orphans, stretches)
	}
	if got := keptRuns(); !isSubsequence(strings.Split(got, "\n"), strings.Split(runsBefore, "\n")) {
		t.Errorf("the runs kept changed:\n%s", got)
	}
	for k, want := range retainedAnswers(t, f.pool, times) {
		if before[k] != want {
			t.Errorf("%s changed:\nbefore %s\nafter  %s", k, before[k], want)
		}
	}
	if again, err := load.DropRuns(ctx, f.pool, load.MinRunRetention, firstCutoff.Add(load.MinRunRetention), nil); err != nil || len(again) != 0 {
		t.Errorf("a second pass dropped %+v (err %v), want nothing", again, err)
	}

	// Edits are found.
	conn, err := f.pool.Acquire(ctx) // the temporary table lives in one session
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, tamper := range []struct {
		name, edit, undo, reason string
	}{
		{"a dropped run's part",
			`UPDATE defender_storage.runs_dropped SET links = overlay(links PLACING '\x00'::bytea FROM 20 FOR 1) WHERE last_run_id = (SELECT max(last_run_id) FROM defender_storage.runs_dropped)`,
			`UPDATE defender_storage.runs_dropped SET links = overlay(links PLACING '\x%s'::bytea FROM 20 FOR 1) WHERE last_run_id = (SELECT max(last_run_id) FROM defender_storage.runs_dropped)`,
			"no longer give the digest kept of the last of them"},
		{"a stretch removed, with the reference to it", `
			CREATE TEMP TABLE gone AS SELECT * FROM defender_storage.runs_dropped WHERE last_run_id = (SELECT max(last_run_id) FROM defender_storage.runs_dropped);
			CREATE TEMP TABLE chained AS SELECT run_id FROM defender_storage.run_digest WHERE previous_dropped_run_id = (SELECT last_run_id FROM gone);
			UPDATE defender_storage.run_digest SET previous_dropped_run_id = NULL WHERE run_id IN (SELECT run_id FROM chained);
			DELETE FROM defender_storage.runs_dropped WHERE last_run_id = (SELECT last_run_id FROM gone)`, `
			INSERT INTO defender_storage.runs_dropped SELECT * FROM gone;
			UPDATE defender_storage.run_digest SET previous_dropped_run_id = (SELECT last_run_id FROM gone) WHERE run_id IN (SELECT run_id FROM chained);
			DROP TABLE gone, chained`,
			"the chain is broken"},
	} {
		var was string
		if err := f.pool.QueryRow(ctx, `SELECT encode(substr(links, 20, 1), 'hex') FROM defender_storage.runs_dropped ORDER BY last_run_id DESC LIMIT 1`).Scan(&was); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, tamper.edit); err != nil {
			t.Fatalf("%s: %v", tamper.name, err)
		}
		chains := verify(t, f, "")
		found := false
		for _, c := range chains {
			found = found || (c.Mismatch != nil && strings.Contains(c.Mismatch.Reason, tamper.reason))
		}
		if !found {
			t.Errorf("%s: verify found %+v, want %q", tamper.name, chains, tamper.reason)
		}
		undo := tamper.undo
		if strings.Contains(undo, "%s") {
			undo = fmt.Sprintf(undo, was)
		}
		if _, err := conn.Exec(ctx, undo); err != nil {
			t.Fatalf("undo %s: %v", tamper.name, err)
		}
		verified("after undoing " + tamper.name)
	}
	// A run kept before a stretch, edited, its digest recomputed as the
	// loader would: the stretch no longer chains it.
	if _, err := f.pool.Exec(ctx, `
		CREATE TABLE public.kept_run AS
		SELECT r.* FROM defender_storage.sync_run r
		 WHERE r.run_id = (SELECT min(s.previous_run_id) FROM defender_storage.runs_dropped s
		                    WHERE EXISTS (SELECT FROM defender_storage.run_digest d WHERE d.run_id = s.previous_run_id));
		CREATE TABLE public.kept_digest AS SELECT d.* FROM defender_storage.run_digest d JOIN public.kept_run USING (run_id);
		UPDATE defender_storage.sync_run r SET api_requests = coalesce(r.api_requests, 0) + 1 FROM public.kept_run k WHERE r.run_id = k.run_id;
		UPDATE defender_storage.run_digest d
		   SET digest = defender_storage.chain_digest(p.digest, x.digest_parts),
		       parts = defender_storage.compact_digest_parts(x.digest_parts)
		  FROM public.kept_digest k
		  LEFT JOIN defender_storage.run_digest p ON p.run_id = k.previous_run_id
		 CROSS JOIN defender_storage.run_digest_parts(ARRAY[k.run_id]) x
		 WHERE d.run_id = k.run_id`); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range verify(t, f, "") {
		found = found || (c.Mismatch != nil && strings.Contains(c.Mismatch.Reason, "no longer give the digest kept"))
	}
	if !found {
		t.Error("a run edited before the runs dropped, its digest recomputed, went unnoticed")
	}
	if _, err := f.pool.Exec(ctx, `
		UPDATE defender_storage.sync_run r SET api_requests = k.api_requests FROM public.kept_run k WHERE r.run_id = k.run_id;
		UPDATE defender_storage.run_digest d SET digest = k.digest, parts = k.parts FROM public.kept_digest k WHERE d.run_id = k.run_id;
		DROP TABLE public.kept_run, public.kept_digest`); err != nil {
		t.Fatal(err)
	}
	verified("after undoing the edit of a kept run")

	// A later pass: the rest but the heads and what is referred to; its
	// stretches chain the first pass's.
	later, err := load.DropRuns(ctx, f.pool, load.MinRunRetention, end.Add(load.MinRunRetention+time.Hour), nil)
	if err != nil || len(later) != 2 {
		t.Fatalf("the later pass dropped %+v (err %v)", later, err)
	}
	var chained int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM defender_storage.runs_dropped s
	                                 WHERE s.previous_dropped_run_id IS NOT NULL`).Scan(&chained); err != nil {
		t.Fatal(err)
	}
	if chained == 0 {
		t.Error("no stretch of the later pass chains one of the first")
	}
	verified("after the later pass")
	for k, want := range retainedAnswers(t, f.pool, times) {
		if before[k] != want {
			t.Errorf("after the later pass, %s changed:\nbefore %s\nafter  %s", k, before[k], want)
		}
	}

	// The runs dropped cannot be chained at schema 41.
	if _, err := p.DownTo(ctx, 41); err == nil || !strings.Contains(err.Error(), "RUN_RETENTION has dropped runs") {
		t.Errorf("rolling back over dropped runs: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != goose.MaxVersion && v != 42 {
		t.Errorf("schema version %d after the refused rollback (err %v)", v, err)
	}
}

// isSubsequence reports whether every line of sub is in all, in order.
func isSubsequence(sub, all []string) bool {
	i := 0
	for _, s := range sub {
		j := slices.Index(all[i:], s)
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return true
}

// TestRunRetentionKnowsEveryReference: the statement that drops runs
// looks, for each foreign key to sync_run in the schema, for a row that
// refers to the run: a foreign key added without it would make retention
// fail on the runs it names.
func TestRunRetentionKnowsEveryReference(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rows, err := f.pool.Query(context.Background(), `
		SELECT c.conrelid::regclass::text, a.attname
		  FROM pg_constraint c
		  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		 WHERE c.contype = 'f' AND c.confrelid = 'defender_storage.sync_run'::regclass AND c.conparentid = 0
		 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	statement := load.Statement("retention_drop_runs")
	n := 0
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		n++
		if table == "defender_storage.run_digest" {
			continue // the digests of the runs dropped go with them
		}
		look := regexp.MustCompile(`NOT EXISTS \(SELECT FROM ` + regexp.QuoteMeta(table) + ` x WHERE x\.` + column + ` = r\.run_id\)`)
		if !look.MatchString(statement) {
			t.Errorf("retention_drop_runs does not look for %s.%s", table, column)
		}
	}
	if n < 20 {
		t.Errorf("%d foreign keys to sync_run found", n)
	}
}

// TestRunRetentionMigrationKeepsEveryAnswer: migration 00042 (the table
// of runs dropped, the chain's second reference, the indexes for the
// references to runs) changes no stored row and no answer, and neither
// does rolling it back while no run was dropped; every chain verifies
// after the upgrade.
func TestRunRetentionMigrationKeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	// run_digest gains a column: its rows, as they were, are the same row
	// versions (the upgrade changes the catalog alone).
	migrationRewritesKeepingEveryAnswer(t, 42, nil, func(pool *pgxpool.Pool) {
		chainsVerified(t, pool, "after the upgrade")
	}, map[string]string{
		"defender_storage.run_digest": `SELECT xmin::text, ctid::text, run_id, previous_run_id, digest, parts, computed_at_upgrade
		                                  FROM defender_storage.run_digest ORDER BY run_id`,
	})
}

// TestDropRunsInBatches: run retention looking at a few runs per
// transaction, and pausing its pass after each, drops over its passes the
// same runs as in one batch, its stretches chaining across the batches,
// and every chain verifies. Not parallel: it sets the batch for the
// package.
func TestDropRunsInBatches(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dropAll := func(batch int) (dropped int64, stretches int, kept string, passes int) {
		t.Helper()
		pool := dbtest.Pool(t)
		syncQuietTenants(t, pool, end)
		// In batches of 7, each pass pauses after its first batch: the
		// next goes on where it stopped.
		budget := time.Hour
		if batch < 2000 {
			budget = 0
		}
		load.WithRunRetentionBatch(batch, budget, func() {
			for passes < 1000 {
				// Until no tenant has runs left to look at.
				var left int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM (`+load.Statement("retention_run_tenants")+`) q`,
					end.Add(time.Hour)).Scan(&left); err != nil {
					t.Fatal(err)
				}
				if left == 0 {
					break
				}
				out, err := load.DropRuns(ctx, pool, load.MinRunRetention, end.Add(load.MinRunRetention+time.Hour), nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range out {
					dropped += d.Succeeded + d.Failed
				}
				passes++
			}
		})
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM defender_storage.runs_dropped`).Scan(&stretches); err != nil {
			t.Fatal(err)
		}
		chains, err := load.Verify(ctx, pool, "")
		if err != nil || !load.Verified(chains) {
			t.Fatalf("batches of %d: verify %+v (err %v)", batch, chains, err)
		}
		return dropped, stretches, dbtest.Answer(t, pool, `SELECT run_id, resource, status FROM defender.sync_runs ORDER BY run_id`), passes
	}
	whole, wholeStretches, wholeKept, wholePasses := dropAll(2000)
	batched, batchedStretches, batchedKept, batchedPasses := dropAll(7)
	if batched != whole || batchedKept != wholeKept || whole == 0 {
		t.Errorf("in batches of 7: %d runs dropped, in one: %d; the runs kept differ: %v", batched, whole, batchedKept != wholeKept)
	}
	if wholePasses != 1 || batchedPasses < 10 {
		t.Errorf("%d passes in one batch, %d in batches of 7 pausing after each", wholePasses, batchedPasses)
	}
	if batchedStretches <= wholeStretches {
		t.Errorf("%d stretches in batches of 7, %d in one: a stretch cut by a batch should chain the next", batchedStretches, wholeStretches)
	}
}

// TestDropRunsKeepsARunThatDoesNotVerify: a run past the retention that
// nothing refers to, but whose row was edited since its digest, is kept,
// and verify still names it: retention never hides an edit.
func TestDropRunsKeepsARunThatDoesNotVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	syncQuietTenants(t, pool, end)
	// A definitions run of the first day that wrote nothing.
	var edited int64
	if err := pool.QueryRow(ctx, `
		SELECT r.run_id FROM defender.sync_runs r
		 WHERE r.resource = 'definitions' AND r.status = 'succeeded' AND r.records_changed = 0 AND r.records_inserted = 0
		   AND NOT EXISTS (SELECT FROM defender_storage.session_write w WHERE w.run_id = r.run_id)
		 ORDER BY r.run_id OFFSET 5 LIMIT 1`).Scan(&edited); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE defender_storage.sync_run SET api_requests = coalesce(api_requests, 0) + 1 WHERE run_id = $1`, edited); err != nil {
		t.Fatal(err)
	}
	dropped, err := load.DropRuns(ctx, pool, load.MinRunRetention, end.Add(load.MinRunRetention+time.Hour), nil)
	if err != nil || len(dropped) != 2 {
		t.Fatalf("dropped %+v (err %v)", dropped, err)
	}
	var kept bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM defender_storage.sync_run WHERE run_id = $1)`, edited).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if !kept {
		t.Errorf("run %d, edited since its digest, was dropped", edited)
	}
	chains, err := load.Verify(ctx, pool, "")
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, c := range chains {
		named = named || (c.Mismatch != nil && c.Mismatch.RunID == edited)
	}
	if !named {
		t.Errorf("verify does not name run %d, edited: %+v", edited, chains)
	}
}
