package load_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// digestHistory syncs a tenant through everything a run digest covers:
// new agents, heartbeats, a change, a deletion and a return, withheld
// deletions, a failed run, definitions with a latestScan and their
// deletion, and history runs that record, complete and correct sessions
// and store targets. It returns the fixture.
func digestHistory(t *testing.T) *fixture {
	t.Helper()
	f := setup(t)
	ctx := context.Background()
	fleet := agents(25)
	f.sync(t, listOf(fleet...))
	f.clock.Advance(time.Hour)
	fleet[3].LastSeen = f.clock.Now()
	fleet[4].MDEClientVersion = "10.8295.22621.1195"
	f.sync(t, listOf(fleet...))
	f.clock.Advance(time.Hour)
	if _, err := f.loader.Sync(ctx, failingList(errors.New("page 2: status 503"), fleet[:3]...)); err == nil {
		t.Fatal("a failing listing succeeded")
	}
	f.sync(t, listOf(fleet[1:]...)) // agent 0 deleted
	f.clock.Advance(time.Hour)
	f.sync(t, listOf(fleet[:5]...)) // 20 missing: withheld by the guard
	f.clock.Advance(time.Hour)
	f.sync(t, listOf(fleet...)) // agent 0 returns
	f.clock.Advance(time.Hour)
	fleet[7].LastSeen = f.clock.Now()
	f.sync(t, listOf(append(fleet[:1:1], fleet[2:]...)...)) // agent 1 deleted

	defs := definitions(3)
	ran := f.clock.Now().Add(-30 * time.Minute)
	defs[0].LatestScan = &scanagent.LatestScan{Status: "Fail", FailureReason: "unreachable", ExecutedAt: ran}
	f.clock.Advance(time.Minute)
	f.syncDefinitions(t, definitionsOf(defs...))
	f.clock.Advance(time.Hour)
	f.syncDefinitions(t, definitionsOf(defs[:2]...)) // a definition deleted
	s := session(defs[0], 7, ran, [2]string{"10.0.0.1", "Failure"})
	h := &history{sessions: []scanagent.ScanSession{
		s, session(defs[1], 1, ran.Add(-time.Hour), [2]string{"10.0.1.1", "Success"}, [2]string{"10.0.1.2", "Failure"}),
	}}
	f.clock.Advance(time.Hour)
	f.syncHistory(t, h) // completes the latestScan session, records one
	h.sessions[1].Status, h.sessions[1].GeneralError = "Partial Success", "corrected"
	f.clock.Advance(time.Hour)
	f.syncHistory(t, h) // corrects one
	return f
}

func verify(t *testing.T, f *fixture, tenant string) []load.ChainVerification {
	t.Helper()
	chains, err := load.Verify(context.Background(), f.pool, tenant)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return chains
}

// writtenParts checks that the digest each run stored holds, run by run,
// the canonical parts verify computes (as run_digest keeps them: a sync's
// run computes only the parts its resource writes, and a run whose counts
// say it changed nothing reads neither versions, deletions nor withheld
// deletions), and returns the parts that hold rows (not the digest of
// nothing), as resource letter and part number ("a6": an agents run's
// observations), so that a test shows its fixture covers them.
func writtenParts(t *testing.T, f *fixture) string {
	t.Helper()
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.run_digest d
		 CROSS JOIN defender_storage.run_digest_parts(ARRAY[d.run_id]) p
		 WHERE d.parts IS DISTINCT FROM defender_storage.compact_digest_parts(p.digest_parts)`); n != 0 {
		t.Errorf("%d runs whose stored parts differ from the canonical parts", n)
	}
	var parts []string
	if err := f.pool.QueryRow(context.Background(), `
		SELECT array_agg(DISTINCT r.resource::text || (i + 1)::text ORDER BY r.resource::text || (i + 1)::text)
		  FROM defender_storage.sync_run r
		 CROSS JOIN defender_storage.run_digest_parts(ARRAY[r.run_id]) p
		 CROSS JOIN generate_series(1, 7) i
		 WHERE r.status = 's' AND substr(p.digest_parts, 32 * i + 1, 32) <> sha256(''::bytea)`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	return strings.Join(parts, " ")
}

// digestedRunKinds lists the resources of the runs that have a digest,
// each marked by whether its counts say it wrote (+) or not (-), such as
// "a+ a- d+ h+": record_run_digest stores each with a statement of its own,
// so that a test shows its fixture covers them.
func digestedRunKinds(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var kinds string
	if err := pool.QueryRow(context.Background(), `
		SELECT string_agg(DISTINCT r.resource::text || CASE WHEN coalesce(r.records_inserted, 0) + coalesce(r.records_changed, 0) + coalesce(r.records_deleted, 0) + coalesce(r.deletions_withheld, 0) > 0
		                                                    THEN '+' ELSE '-' END, ' ')
		  FROM defender_storage.sync_run r JOIN defender_storage.run_digest USING (run_id)`).Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// TestVerifyAnUntouchedHistory: every successful run has a digest chained
// with the previous successful run of its tenant and resource; a failed
// run has none and is not in the chain; the stored rows give every digest
// again; the heads are the latest runs.
func TestVerifyAnUntouchedHistory(t *testing.T) {
	t.Parallel()
	f := digestHistory(t)
	ctx := context.Background()
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs r JOIN defender_storage.run_digest d USING (run_id) WHERE r.status <> 'succeeded'`); n != 0 {
		t.Errorf("%d runs that did not succeed have a digest", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs r WHERE r.status = 'succeeded' AND NOT EXISTS (SELECT FROM defender_storage.run_digest d WHERE d.run_id = r.run_id)`); n != 0 {
		t.Errorf("%d successful runs have no digest", n)
	}
	// The failed run is skipped: the run after it chains the one before.
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.run_digest d JOIN defender.sync_runs r USING (run_id)
		 WHERE d.previous_run_id < (SELECT run_id FROM defender.sync_runs WHERE status = 'failed')
		   AND r.run_id > (SELECT run_id FROM defender.sync_runs WHERE status = 'failed') AND r.resource = 'agents'`); n != 1 {
		t.Errorf("%d runs chain over the failed run, want 1", n)
	}
	chains := verify(t, f, "")
	want := map[string]int{"agents": 6, "definitions": 2, "history": 2}
	if len(chains) != len(want) {
		t.Fatalf("chains %+v, want one per resource", chains)
	}
	for _, c := range chains {
		if c.Mismatch != nil {
			t.Errorf("%s: %+v", c.Resource, c.Mismatch)
		}
		if c.Runs != want[c.Resource] || c.TenantID != tenant || c.ComputedAtUpgrade != 0 {
			t.Errorf("%s: %+v, want %d runs verified", c.Resource, c, want[c.Resource])
		}
		var head int64
		var digest []byte
		if err := f.pool.QueryRow(ctx, `
			SELECT d.run_id, d.digest FROM defender_storage.run_digest d JOIN defender.sync_runs r USING (run_id)
			 WHERE r.resource = $1 ORDER BY run_id DESC LIMIT 1`, c.Resource).Scan(&head, &digest); err != nil {
			t.Fatal(err)
		}
		if c.HeadRunID != head || c.HeadDigest != hex.EncodeToString(digest) {
			t.Errorf("%s: head run %d %s, want %d %x", c.Resource, c.HeadRunID, c.HeadDigest, head, digest)
		}
	}
	if got, want := writtenParts(t, f), "a2 a3 a4 a5 a6 d2 d3 d4 d7 h7 h8"; got != want {
		t.Errorf("parts with rows, per resource: %s, want %s", got, want)
	}
	// Runs of agents that wrote versions and that did not: both of their
	// statements stored digests here (a definitions run that wrote none:
	// TestDigestOfRunsThatChangedNothing).
	if kinds, want := digestedRunKinds(t, f.pool), "a+ a- d+ h+"; kinds != want {
		t.Errorf("digested runs that wrote (+) and did not (-): %s, want %s", kinds, want)
	}
	// Sessions written by a run and rewritten by a later one: the earlier
	// writer's digest still verifies (it holds).
	if n := f.count(t, `SELECT count(*) FROM defender_storage.session_write w JOIN defender_storage.session_result s USING (session_key) WHERE s.updated_by_run_id <> w.run_id`); n < 2 {
		t.Errorf("%d session writes rewritten by a later run: the fixture does not cover it", n)
	}
	// Every writer of a session is recorded once, and nothing else: its
	// recording run, its latest updating run, and the runs that updated
	// it before (known only from session_write, so counted: the fixture
	// corrects one session twice).
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.session_result s
		 WHERE NOT EXISTS (SELECT FROM defender_storage.session_write w WHERE w.session_key = s.session_key AND w.run_id = s.recorded_by_run_id)
		    OR (s.updated_by_run_id IS NOT NULL
		        AND NOT EXISTS (SELECT FROM defender_storage.session_write w WHERE w.session_key = s.session_key AND w.run_id = s.updated_by_run_id))`); n != 0 {
		t.Errorf("%d sessions lack the write of their recording or latest updating run", n)
	}
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.session_write w JOIN defender.sync_runs r USING (run_id)
		 WHERE r.resource NOT IN ('definitions', 'history') OR r.status <> 'succeeded'`); n != 0 {
		t.Errorf("%d session writes by runs that write no session", n)
	}
	var writes, sessions, updated int64
	if err := f.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM defender_storage.session_write),
		       (SELECT count(*) FROM defender_storage.session_result),
		       (SELECT count(*) FROM defender_storage.session_result WHERE updated_by_run_id IS NOT NULL)`).Scan(&writes, &sessions, &updated); err != nil {
		t.Fatal(err)
	}
	if writes < sessions+updated {
		t.Errorf("%d session writes for %d sessions, %d of them updated", writes, sessions, updated)
	}
}

// TestVerifyNamesTheRunWhoseRowsWereEdited: one stored row edited as the
// superuser, and verify names the run that wrote it and the part, and the
// chains of other resources still verify.
func TestVerifyNamesTheRunWhoseRowsWereEdited(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, resource, part string
		run, edit            string // the run expected, the statement editing its row
	}{
		{"a version's valid_to", "agents", "the versions it closed",
			`SELECT closed_by_run_id FROM defender.scan_agent_history WHERE closed_by_run_id IS NOT NULL ORDER BY history_id LIMIT 1`,
			`UPDATE defender.scan_agent_history SET valid_to = valid_to + interval '1 second' WHERE history_id = (SELECT min(history_id) FROM defender.scan_agent_history WHERE closed_by_run_id IS NOT NULL)`},
		{"a version's values", "agents", "the versions it opened",
			`SELECT max(opened_by_run_id) FROM defender.scan_agent_history`,
			`UPDATE defender.scan_agent_history SET mde_client_version = '10.0' WHERE opened_by_run_id = (SELECT max(opened_by_run_id) FROM defender.scan_agent_history)`},
		{"an observation's last_seen", "agents", "its observations",
			`SELECT min(run_id) FROM defender_storage.observation`,
			`UPDATE defender_storage.observation SET last_seen[2] = last_seen[2] - interval '1 day' WHERE run_id = (SELECT min(run_id) FROM defender_storage.observation)`},
		{"a run's deletion", "agents", "its deletions",
			`SELECT deleted_by_run_id FROM defender_storage.agent_state WHERE deleted_by_run_id IS NOT NULL`,
			`UPDATE defender_storage.agent_state SET deleted_at = NULL, deleted_by_run_id = NULL WHERE deleted_by_run_id IS NOT NULL`},
		{"a returned agent's deletion", "agents", "its deletions",
			`SELECT min(closed_by_run_id) FROM defender.scan_agent_history h WHERE NOT EXISTS (SELECT FROM defender.scan_agent_history n WHERE n.agent_key = h.agent_key AND n.opened_by_run_id = h.closed_by_run_id)`,
			`DELETE FROM defender.scan_agent_history WHERE valid_from > (SELECT min(valid_to) FROM defender.scan_agent_history h WHERE NOT EXISTS (SELECT FROM defender.scan_agent_history n WHERE n.agent_key = h.agent_key AND n.opened_by_run_id = h.closed_by_run_id)) AND agent_key = (SELECT agent_key FROM defender.scan_agent_history h WHERE NOT EXISTS (SELECT FROM defender.scan_agent_history n WHERE n.agent_key = h.agent_key AND n.opened_by_run_id = h.closed_by_run_id) ORDER BY valid_to LIMIT 1)`},
		{"a withheld deletion", "agents", "the deletions it withheld",
			`SELECT run_id FROM defender_storage.withheld_deletions LIMIT 1`,
			`DELETE FROM defender_storage.withheld_deletions WHERE agent_key = (SELECT min(agent_key) FROM defender_storage.withheld_deletions)`},
		{"a run's counts", "agents", "the run",
			`SELECT min(run_id) FROM defender.sync_runs WHERE deletions_withheld > 0`,
			`UPDATE defender_storage.sync_run SET deletions_withheld = NULL WHERE deletions_withheld > 0`},
		{"a definition's deletion", "definitions", "its deletions",
			`SELECT deleted_by_run_id FROM defender_storage.definition_state WHERE deleted_by_run_id IS NOT NULL`,
			`UPDATE defender_storage.definition_state SET deleted_at = deleted_at - interval '1 hour' WHERE deleted_by_run_id IS NOT NULL`},
		{"a session's status", "history", "the sessions it wrote",
			`SELECT updated_by_run_id FROM defender_storage.session_result WHERE status = 'Partial Success'`,
			`UPDATE defender_storage.session_result SET status = 'Success' WHERE status = 'Partial Success'`},
		{"a latestScan session recorded, then completed", "definitions", "the sessions it wrote",
			`SELECT recorded_by_run_id FROM defender_storage.session_result s JOIN defender.sync_runs r ON r.run_id = s.recorded_by_run_id WHERE r.resource = 'definitions' AND s.updated_by_run_id IS NOT NULL`,
			`UPDATE defender_storage.session_write w SET values_digest = pg_catalog.sha256('x') FROM defender_storage.session_result s JOIN defender.sync_runs r ON r.run_id = s.recorded_by_run_id WHERE s.session_key = w.session_key AND w.run_id = s.recorded_by_run_id AND r.resource = 'definitions' AND s.updated_by_run_id IS NOT NULL`},
		{"a target's status", "history", "the targets it stored",
			`SELECT min(targets_run_id) FROM defender_storage.session_result`,
			`UPDATE defender_storage.session_target SET status = 'Success' WHERE status = 'Failure'`},
		{"a target's address", "history", "the targets it stored",
			`SELECT min(s.targets_run_id) FROM defender_storage.session_result s JOIN defender_storage.session_target t USING (session_key) WHERE t.target_no = (SELECT min(target_no) FROM defender_storage.scan_target)`,
			`UPDATE defender_storage.scan_target SET hostname = 'elsewhere.example' WHERE target_no = (SELECT min(target_no) FROM defender_storage.scan_target)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := digestHistory(t)
			ctx := context.Background()
			var run int64
			if err := f.pool.QueryRow(ctx, tc.run).Scan(&run); err != nil {
				t.Fatalf("%s: %v", tc.run, err)
			}
			// As the server's superuser; triggers and constraints stay on.
			// An edit that changes no row leaves the chain verified, which
			// fails the test below.
			dbtest.Admin(t, f.pool.Config().ConnConfig.Database, tc.edit)
			for _, c := range verify(t, f, "") {
				if c.Resource != tc.resource {
					if c.Mismatch != nil {
						t.Errorf("%s chain: %+v; only the %s chain was edited", c.Resource, c.Mismatch, tc.resource)
					}
					continue
				}
				if c.Mismatch == nil {
					t.Fatalf("%s chain verified after editing %s", c.Resource, tc.name)
				}
				if c.Mismatch.RunID != run || len(c.Mismatch.Parts) != 1 || !strings.HasPrefix(c.Mismatch.Parts[0], tc.part) {
					t.Errorf("mismatch %+v, want run %d and the part %q", c.Mismatch, run, tc.part)
				}
			}
		})
	}
}

// TestVerifyNamesAChangedOrRemovedDigest: a digest edited, or removed,
// is named as such.
func TestVerifyNamesAChangedOrRemovedDigest(t *testing.T) {
	t.Parallel()
	f := digestHistory(t)
	ctx := context.Background()
	var run int64
	if err := f.pool.QueryRow(ctx, `
		UPDATE defender_storage.run_digest SET digest = pg_catalog.sha256('forged')
		 WHERE run_id = (SELECT min(run_id) FROM defender_storage.run_digest) RETURNING run_id`).Scan(&run); err != nil {
		t.Fatal(err)
	}
	c := verify(t, f, tenant)[0]
	if c.Resource != "agents" || c.Mismatch == nil || c.Mismatch.RunID != run || c.Runs != 0 ||
		!strings.Contains(c.Mismatch.Reason, "the digest was changed") {
		t.Errorf("forged digest: %+v %+v", c, c.Mismatch)
	}
}

// TestChainsAreIndependent: two tenants synced in turn have a chain per
// tenant and resource; editing one tenant's row leaves the other's
// verified, and --tenant verifies one tenant alone.
func TestChainsAreIndependent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	other, err := load.New(f.pool, load.Config{TenantID: "fabrikam.com", Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now, Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		list := agents(4 + i)
		f.sync(t, listOf(list...))
		if _, err := other.Sync(ctx, listOf(list[1:]...)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour)
	}
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.run_digest d JOIN defender.sync_runs r USING (run_id)
		  JOIN defender.sync_runs p ON p.run_id = d.previous_run_id WHERE p.tenant_id <> r.tenant_id`); n != 0 {
		t.Errorf("%d digests chain another tenant's run", n)
	}
	chains := verify(t, f, "")
	if len(chains) != 2 || chains[0].TenantID != tenant || chains[1].TenantID != "fabrikam.com" ||
		chains[0].Runs != 3 || chains[1].Runs != 3 || chains[0].HeadDigest == chains[1].HeadDigest {
		t.Fatalf("chains %+v", chains)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender.scan_agent_history SET computer_dns_name = 'x' WHERE tenant_id = 'fabrikam.com' AND opened_by_run_id = (SELECT max(opened_by_run_id) FROM defender.scan_agent_history)`); err != nil {
		t.Fatal(err)
	}
	chains = verify(t, f, "")
	if chains[1].Mismatch == nil || chains[0].Mismatch != nil || chains[1].Runs != 2 {
		t.Errorf("after editing fabrikam.com's last version: %+v", chains)
	}
	only := verify(t, f, strings.ToUpper(tenant))
	if len(only) != 1 || only[0].TenantID != tenant || only[0].Mismatch != nil {
		t.Errorf("--tenant %s: %+v", tenant, only)
	}
	var unknown *load.UnknownTenantError
	if _, err := load.Verify(ctx, f.pool, "nobody.example"); !errors.As(err, &unknown) || len(unknown.Known) != 2 {
		t.Errorf("unknown tenant: %v", err)
	}
}

// TestAuditDocRecomputesDigests: the SQL of docs/audit.md's "Checking
// without agentsync" runs as written: the first statement finds no run on
// an untouched history and the edited one after an edit; the plain SQL of
// part 6 gives the stored part.
func TestAuditDocRecomputesDigests(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(doc)
	section = section[strings.Index(section, "### Checking without agentsync"):]
	section = section[:strings.Index(section, "### What it proves")]
	var blocks []string
	for _, part := range strings.Split(section, "```sql\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) != 2 {
		t.Fatalf("%d SQL examples in the section, want 2", len(blocks))
	}
	f := digestHistory(t)
	ctx := context.Background()
	if n := f.count(t, `SELECT count(*) FROM (`+strings.TrimSuffix(strings.TrimSpace(blocks[0]), ";")+`) x`); n != 0 {
		t.Errorf("the check finds %d runs on an untouched history", n)
	}
	var run int64
	var stored, recomputed []byte
	if err := f.pool.QueryRow(ctx, `
		SELECT d.run_id, pg_catalog.substr(d.parts, 21, 32) FROM defender_storage.run_digest d
		 WHERE d.run_id = (SELECT max(run_id) FROM defender_storage.observation)`).Scan(&run, &stored); err != nil {
		t.Fatal(err)
	}
	part6 := strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(blocks[1]), ";"), ":run", fmt.Sprint(run))
	if err := f.pool.QueryRow(ctx, part6).Scan(&recomputed); err != nil {
		t.Fatalf("%v\n%s", err, part6)
	}
	if !bytes.Equal(stored, recomputed) {
		t.Errorf("part 6 of run %d: plain SQL gives %x, stored %x", run, recomputed, stored)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.observation SET last_seen[1] = last_seen[1] + interval '1 second' WHERE run_id = $1`, run); err != nil {
		t.Fatal(err)
	}
	if n := f.count(t, `SELECT count(*) FROM (`+strings.TrimSuffix(strings.TrimSpace(blocks[0]), ";")+`) x WHERE run_id = $1`, run); n != 1 {
		t.Errorf("the check does not name run %d after an edit of its observation", run)
	}
}

// TestVerifyAfterRetention: a month of observations dropped (as
// OBSERVATION_RETENTION drops it) leaves the chains verified, the
// observations part of its runs taken as stored and counted; an
// observation edited in a month still kept is still named.
func TestVerifyAfterRetention(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	fleet := agents(5)
	for range 3 {
		for i := range fleet {
			fleet[i].LastSeen = f.clock.Now()
		}
		f.sync(t, listOf(fleet...))
		f.clock.Advance(40 * 24 * time.Hour) // the next month
	}
	var oldest string
	var observed int
	if err := f.pool.QueryRow(ctx, `
		SELECT min(c.relname), (SELECT count(*) FROM defender_storage.observation WHERE observed_at < $1)
		  FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'defender_storage.observation'::pg_catalog.regclass`, t0.Add(24*time.Hour)).Scan(&oldest, &observed); err != nil {
		t.Fatal(err)
	}
	if observed != 1 {
		t.Fatalf("%d observations in the first month, want 1", observed)
	}
	dbtest.Admin(t, f.pool.Config().ConnConfig.Database,
		`ALTER TABLE defender_storage.observation DETACH PARTITION defender_storage.`+oldest,
		`DROP TABLE defender_storage.`+oldest)
	chains := verify(t, f, "")
	if len(chains) != 1 || chains[0].Mismatch != nil || chains[0].Runs != 3 || chains[0].ObservationsDropped != 1 {
		t.Fatalf("after dropping %s: %+v", oldest, chains)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE defender_storage.observation SET last_seen[1] = last_seen[1] + interval '1 second' WHERE observed_at = (SELECT max(observed_at) FROM defender_storage.observation)`); err != nil {
		t.Fatal(err)
	}
	if c := verify(t, f, "")[0]; c.Mismatch == nil || c.Runs != 2 {
		t.Errorf("an edited observation after retention: %+v", c)
	}
}

// TestDigestOfRunsThatChangedNothing: a run whose counts say it changed
// nothing reads only its run, its observations and the sessions it wrote;
// its parts are still the canonical ones, observations and sessions
// included.
func TestDigestOfRunsThatChangedNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	fleet := agents(5)
	f.sync(t, listOf(fleet...))
	f.clock.Advance(time.Hour)
	fleet[2].LastSeen = f.clock.Now() // a heartbeat only
	f.sync(t, listOf(fleet...))
	defs := definitions(2)
	ran := f.clock.Now().Add(-30 * time.Minute)
	defs[0].LatestScan = &scanagent.LatestScan{Status: "Success", ExecutedAt: ran}
	f.syncDefinitions(t, definitionsOf(defs...))
	f.clock.Advance(time.Hour)
	defs[0].LatestScan = &scanagent.LatestScan{Status: "Fail", FailureReason: "unreachable", ExecutedAt: ran.Add(time.Hour)}
	f.syncDefinitions(t, definitionsOf(defs...)) // a new latest scan: its session only
	if got := writtenParts(t, f); !strings.Contains(got, "a6") || !strings.Contains(got, "d7") {
		t.Errorf("parts with rows: %s, want observations and sessions", got)
	}
	var unchanged []string
	if err := f.pool.QueryRow(context.Background(), `
		SELECT array_agg(r.resource::text || '/' || (w.run_id IS NOT NULL)::text || '/' || (o.run_id IS NOT NULL)::text ORDER BY r.run_id)
		  FROM defender_storage.sync_run r
		  LEFT JOIN LATERAL (SELECT w.run_id FROM defender_storage.session_write w WHERE w.run_id = r.run_id LIMIT 1) w ON true
		  LEFT JOIN defender_storage.observation o ON o.run_id = r.run_id AND o.observed_at = r.fetched_at
		 WHERE r.status = 's' AND coalesce(r.records_inserted, 0) + coalesce(r.records_changed, 0) + coalesce(r.records_deleted, 0) + coalesce(r.deletions_withheld, 0) = 0`).Scan(&unchanged); err != nil {
		t.Fatal(err)
	}
	// resource / wrote a session / has an observation row
	if got, want := strings.Join(unchanged, " "), "a/false/true d/true/false"; got != want {
		t.Errorf("runs that changed nothing: %s, want %s", got, want)
	}
}

// TestDigestOfARunThatDidNotSucceed: only a successful run has a digest;
// asking for another's stores nothing and says why.
func TestDigestOfARunThatDidNotSucceed(t *testing.T) {
	t.Parallel()
	f := digestHistory(t)
	ctx := context.Background()
	var failed int64
	if err := f.pool.QueryRow(ctx, `SELECT run_id FROM defender.sync_runs WHERE status = 'failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	_, err := f.pool.Exec(ctx, `SELECT defender_storage.record_run_digest($1)`, failed)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("run %d is not a succeeded run", failed)) {
		t.Fatalf("the digest of failed run %d: %v", failed, err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.run_digest WHERE run_id = $1`, failed); n != 0 {
		t.Errorf("failed run %d has %d digests", failed, n)
	}
}

// TestDigestsOfInterleavedTenants: over tenants synced through every case
// the history holds (interleaved agent keys, withheld deletions, agents
// gone and returned, definitions and their sessions, history), every
// run's parts as its sync computed them are the canonical parts, and
// every chain verifies. (No definition is deleted there: digestHistory
// covers it.)
func TestDigestsOfInterleavedTenants(t *testing.T) {
	t.Parallel()
	f := setup(t)
	syncInterleavedTenants(t, f.pool, goose.MaxVersion)
	if got, want := writtenParts(t, f), "a2 a3 a4 a5 a6 d2 d3 d7 h7 h8"; got != want {
		t.Errorf("parts with rows, per resource: %s, want %s", got, want)
	}
	chains := verify(t, f, "")
	if len(chains) != 9 {
		t.Errorf("%d chains, want 3 resources of 3 tenants", len(chains))
	}
	for _, c := range chains {
		if c.Mismatch != nil || c.Runs < 16 {
			t.Errorf("%s %s: %d runs verified, mismatch %+v", c.TenantID, c.Resource, c.Runs, c.Mismatch)
		}
	}
}
