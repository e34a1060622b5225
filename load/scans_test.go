package load_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

func ptr[T any](v T) *T { return &v }

// definition is a scan definition run by agent(i % 5).
func definition(i int) scanagent.ScanDefinition {
	return scanagent.ScanDefinition{
		ID:             fmt.Sprintf("d0000000-0000-4000-8000-%012d", i),
		Name:           fmt.Sprintf("Network scan %d", i),
		ScanType:       "Network",
		IsActive:       ptr(true),
		IntervalHours:  ptr(4),
		Target:         fmt.Sprintf("10.0.%d.1,10.0.%d.2", i, i),
		TargetType:     "Ip",
		ScannerAgentID: agent(i % 5).ID,
		AuthVariant:    "SnmpAuthParams",
		AuthType:       "AuthPriv",
		CreatedBy:      "secops@contoso.com",
	}
}

func definitions(n int) []scanagent.ScanDefinition {
	out := make([]scanagent.ScanDefinition, n)
	for i := range out {
		out[i] = definition(i)
	}
	return out
}

// definitionsOf is a complete listing of definitions.
func definitionsOf(defs ...scanagent.ScanDefinition) scanagent.DefinitionListFunc {
	return func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		st := scanagent.ListStats{Requests: 1, Pages: 1}
		for _, d := range defs {
			if err := fn(d); err != nil {
				return st, err
			}
			st.Agents++
		}
		return st, nil
	}
}

func (f *fixture) syncDefinitions(t testing.TB, list scanagent.DefinitionListFunc) load.Result {
	t.Helper()
	res, err := f.loader.SyncDefinitions(context.Background(), list)
	if err != nil {
		t.Fatalf("sync definitions: %v", err)
	}
	return res
}

func (f *fixture) syncHistory(t testing.TB, src scanagent.HistorySource) load.Result {
	t.Helper()
	res, err := f.loader.SyncHistory(context.Background(), src)
	if err != nil {
		t.Fatalf("sync history: %v", err)
	}
	return res
}

// scanSnapshot renders the scan tables with their row versions.
func (f *fixture) scanSnapshot(t testing.TB) string {
	t.Helper()
	return dbtest.RowVersions(t, f.pool, dbtest.ScanTables...)
}

// history is a scan history in memory: sessions by definition (without
// targets, as the API lists them) and by id (with targets). It records
// what it was asked.
type history struct {
	mu       sync.Mutex
	sessions []scanagent.ScanSession // newest first, with their targets
	failByID error
	asked    []time.Time // since of each reading by definition
	askedIDs [][]string
	askedDef [][]string
}

func (h *history) SessionsByDefinition(ctx context.Context, ids []string, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	h.mu.Lock()
	h.asked = append(h.asked, since)
	h.askedDef = append(h.askedDef, slices.Clone(ids))
	sessions := slices.Clone(h.sessions)
	h.mu.Unlock()
	st := scanagent.ListStats{Requests: 1, Pages: 1}
	for _, s := range sessions {
		if !slices.Contains(ids, s.DefinitionID) || (!s.ScannedAt.IsZero() && s.ScannedAt.Before(since)) {
			continue
		}
		s.TargetsReported, s.ScannedTargets = false, nil
		if err := fn(s); err != nil {
			return st, err
		}
		st.Agents++
	}
	return st, nil
}

func (h *history) SessionsByID(ctx context.Context, ids []string, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	h.mu.Lock()
	h.askedIDs = append(h.askedIDs, slices.Clone(ids))
	sessions, fail := slices.Clone(h.sessions), h.failByID
	h.mu.Unlock()
	st := scanagent.ListStats{Requests: 1, Pages: 1}
	if fail != nil {
		return st, fail
	}
	for _, s := range sessions {
		if s.SessionID == "" || !slices.Contains(ids, s.SessionID) {
			continue
		}
		s.ScannerID = "" // the history by session names no scanner
		s.TargetsReported = true
		if err := fn(s); err != nil {
			return st, err
		}
		st.Agents++
	}
	return st, nil
}

// session is run k of definition d, at hoursAgo before t0, with the given
// targets (ip, status).
func session(d scanagent.ScanDefinition, k int, at time.Time, targets ...[2]string) scanagent.ScanSession {
	s := scanagent.ScanSession{
		DefinitionID: d.ID,
		SessionID:    fmt.Sprintf("%s-%d", strings.ReplaceAll(d.ID[len(d.ID)-6:], "-", ""), k),
		ScannerID:    agent(0).MachineID,
		ScannedAt:    at,
		Targets:      ptr(len(targets)),
	}
	ok := 0
	for _, tg := range targets {
		d := scanagent.Duration(90 * time.Second)
		t := scanagent.ScanTarget{IP: tg[0], Hostname: "host-" + tg[0], Status: tg[1], Duration: &d}
		if tg[1] != "Success" {
			t.ErrorMessage = "Request timed out."
		} else {
			ok++
		}
		s.ScannedTargets = append(s.ScannedTargets, t)
	}
	s.SucceededTargets = ptr(ok)
	switch {
	case ok == len(targets):
		s.Status = "Success"
	case ok == 0:
		s.Status = "Fail"
	default:
		s.Status = "Partial Success"
	}
	return s
}

func TestDefinitionsAreVersionedLikeAgents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(5)...))
	defs := definitions(6)
	res := f.syncDefinitions(t, definitionsOf(defs...))
	if res.Resource != scanagent.Definitions || res.Seen != 6 || res.Inserted != 6 {
		t.Fatalf("first sync: %+v", res)
	}

	// Unchanged: nothing written but the run.
	f.clock.Advance(time.Hour)
	before := f.scanSnapshot(t)
	res = f.syncDefinitions(t, definitionsOf(defs...))
	if res.Unchanged != 6 || res.Changed != 0 {
		t.Fatalf("unchanged sync: %+v", res)
	}
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("an unchanged sync rewrote rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Edited, disabled, moved to another agent, one gone.
	changedAt := f.clock.Advance(time.Hour)
	defs[0].IntervalHours = ptr(8)
	defs[1].IsActive = ptr(false)
	defs[2].ScannerAgentID = agent(4).ID
	defs[3].Extra = map[string]json.RawMessage{"isTroubleshootMode": json.RawMessage("true")}
	res = f.syncDefinitions(t, definitionsOf(defs[:5]...))
	if res.Changed != 4 || res.Unchanged != 1 || res.Deleted != 1 {
		t.Fatalf("sync with changes: %+v", res)
	}
	rows, err := f.pool.Query(context.Background(), `
		SELECT definition_id, attribute, coalesce(old_value, ''), coalesce(new_value, '')
		  FROM defender.scan_definition_changes WHERE changed_at = $1 ORDER BY definition_id, attribute`, changedAt)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id, attr, oldV, newV string
		if err := rows.Scan(&id, &attr, &oldV, &newV); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s->%s", id[len(id)-1:], attr, oldV, newV))
	}
	want := []string{
		"0 interval_hours 4->8",
		"1 is_active true->false",
		"2 scanner_agent_id " + agent(2).ID + "->" + agent(4).ID,
		"3 extra.isTroubleshootMode ->true",
		"5 definition listed->deleted",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes:\n got %q\nwant %q", got, want)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_definitions WHERE deleted_at = $1`, changedAt); n != 1 {
		t.Errorf("%d definitions deleted at the change, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_definition_history WHERE valid_to IS NULL`); n != 5 {
		t.Errorf("%d open versions, want 5", n)
	}
	// The definition returns.
	f.clock.Advance(time.Hour)
	res = f.syncDefinitions(t, definitionsOf(defs...))
	if res.Changed != 1 {
		t.Fatalf("return: %+v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_definition_changes WHERE new_value = 'returned'`); n != 1 {
		t.Errorf("%d returns, want 1", n)
	}
	// Provenance: every listed definition names the run it comes from.
	if n := f.count(t, `
		SELECT count(*) FROM defender.scan_definitions d
		  JOIN defender.sync_runs r ON r.run_id = d.as_of_run_id AND r.fetched_at = d.last_synced_at AND r.resource = 'definitions'
		 WHERE d.deleted_at IS NULL`); n != 6 {
		t.Errorf("%d definitions name their run, want 6", n)
	}
}

func TestFailedDefinitionsSyncChangesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	defs := definitions(4)
	defs[0].LatestScan = &scanagent.LatestScan{Status: "Success", ExecutedAt: t0.Add(-time.Hour)}
	f.syncDefinitions(t, definitionsOf(defs...))
	before := f.scanSnapshot(t)
	f.clock.Advance(time.Hour)
	defs[1].Name = "renamed"
	defs[2].LatestScan = &scanagent.LatestScan{Status: "Fail", ExecutedAt: t0}
	broken := func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		st, _ := definitionsOf(defs[:3]...)(ctx, fn)
		return st, errors.New("page 2: 503 Service Unavailable")
	}
	res, err := f.loader.SyncDefinitions(context.Background(), broken)
	var fe *load.FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a FetchError", err)
	}
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("a failed sync changed data:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var status, resource string
	if err := f.pool.QueryRow(context.Background(), `SELECT status, resource FROM defender.sync_runs WHERE run_id = $1`, res.RunID).Scan(&status, &resource); err != nil || status != "failed" || resource != "definitions" {
		t.Fatalf("run %d: %s %s %v", res.RunID, status, resource, err)
	}
}

func TestDefinitionDeletionsNeedACompleteReadableListing(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *load.Config) { c.MaxDeletedCount = 2 })
	defs := definitions(8)
	f.syncDefinitions(t, definitionsOf(defs...))
	// A definition listed but unreadable is kept; a record without id
	// withholds every deletion.
	f.clock.Advance(time.Hour)
	res, err := f.loader.SyncDefinitions(context.Background(), func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		st, err := definitionsOf(defs[:6]...)(ctx, fn)
		st.Rejected, st.RejectedIDs, st.Unidentified = 2, []string{defs[6].ID}, 1
		return st, err
	})
	if err != nil || res.Deleted != 0 || res.DeletionsWithheld != 1 {
		t.Fatalf("listing with an unidentified record: %+v, %v", res, err)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.definition_withheld`); n != 1 {
		t.Errorf("%d withheld deletions recorded, want 1", n)
	}
	if parts := writtenParts(t, f); !strings.Contains(parts, "d5") {
		t.Errorf("parts with rows: %s, want the withheld definitions (d5)", parts)
	}
	if !strings.Contains(f.logs.String(), "any missing definition may be one of them") {
		t.Errorf("no warning:\n%s", f.logs)
	}
	// The mass-deletion guard: 6 of 8 missing.
	f.clock.Advance(time.Hour)
	res = f.syncDefinitions(t, definitionsOf(defs[:2]...))
	if res.Deleted != 0 || res.DeletionsWithheld != 6 {
		t.Fatalf("mass deletion: %+v", res)
	}
	// A readable complete listing deletes.
	f.clock.Advance(time.Hour)
	res = f.syncDefinitions(t, definitionsOf(defs[:7]...))
	if res.Deleted != 1 {
		t.Fatalf("complete listing: %+v", res)
	}
	// last_synced_at: the latest run that returned it, not one that withheld.
	if n := f.count(t, `
		SELECT count(*) FROM defender.scan_definitions d
		 WHERE d.definition_id = $1 AND d.last_synced_at = $2`, defs[7].ID, t0); n != 1 {
		t.Errorf("the deleted definition's last_synced_at is not its last listing")
	}
}

func TestHistorySessionsAndTargetsAreFacts(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *load.Config) { c.HistoryLookback = 48 * time.Hour })
	f.sync(t, listOf(agents(5)...))
	defs := definitions(3)
	f.syncDefinitions(t, definitionsOf(defs...))
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 3, t0.Add(-1*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.2", "Failure"}),
		session(defs[1], 2, t0.Add(-2*time.Hour), [2]string{"10.0.1.1", "Success"}),
		session(defs[0], 2, t0.Add(-5*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.2", "Success"}),
		session(defs[0], 1, t0.Add(-72*time.Hour), [2]string{"10.0.0.1", "Failure"}), // before the lookback
	}}
	f.clock.Advance(time.Minute)
	res := f.syncHistory(t, h)
	if res.Resource != scanagent.History || res.Seen != 3 || res.Inserted != 3 || res.Targets != 5 {
		t.Fatalf("first history sync: %+v", res)
	}
	if !h.asked[0].Equal(t0.Add(time.Minute - 48*time.Hour)) {
		t.Errorf("first reading since %v, want the lookback", h.asked[0])
	}
	if len(h.askedIDs) != 1 || len(h.askedIDs[0]) != 3 {
		t.Errorf("sessions asked by id: %v", h.askedIDs)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_sessions WHERE scanner_agent_id = $1`, agent(0).ID); n != 3 {
		t.Errorf("%d sessions name the agent whose machine ran them, want 3", n)
	}

	// The same history again writes nothing and asks no target.
	before := f.scanSnapshot(t)
	f.clock.Advance(time.Hour)
	res = f.syncHistory(t, h)
	if res.Inserted != 0 || res.Changed != 0 || res.Unchanged != 3 || res.Targets != 0 {
		t.Fatalf("second history sync: %+v", res)
	}
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("reading the same history again wrote rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(h.askedIDs) != 1 {
		t.Errorf("targets asked again: %v", h.askedIDs)
	}
	if want := f.clock.Now().Add(-48 * time.Hour); !h.asked[1].Equal(want) {
		t.Errorf("second reading since %v, want the whole lookback (%v)", h.asked[1], want)
	}

	// A new session; the by-session reading fails: nothing changes.
	h.sessions = append([]scanagent.ScanSession{session(defs[2], 1, t0.Add(time.Hour), [2]string{"10.0.2.1", "Success"})}, h.sessions...)
	h.failByID = errors.New("POST .../GetScanHistoryBySessionId: status 503")
	f.clock.Advance(time.Hour)
	if _, err := f.loader.SyncHistory(context.Background(), h); err == nil {
		t.Fatal("a failed reading of targets succeeded")
	}
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("a failed history sync changed data:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	h.failByID = nil
	res = f.syncHistory(t, h)
	if res.Inserted != 1 || res.Targets != 1 {
		t.Fatalf("history sync after the failure: %+v", res)
	}
}

// TestLatestScanIsASessionOnce: a definition's latestScan is recorded as a
// session once, and the history naming the same run completes that row
// rather than adding one.
func TestLatestScanIsASessionOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	defs := definitions(2)
	ran := t0.Add(-30 * time.Minute)
	defs[0].LatestScan = &scanagent.LatestScan{Status: "Fail", FailureReason: "unreachable", ExecutedAt: ran}
	f.syncDefinitions(t, definitionsOf(defs...))
	f.clock.Advance(time.Hour)
	f.syncDefinitions(t, definitionsOf(defs...))
	if n := f.count(t, `SELECT count(*) FROM defender.scan_sessions WHERE source = 'latest_scan' AND session_id IS NULL AND scanned_at = $1`, ran); n != 1 {
		t.Fatalf("%d latestScan sessions, want 1", n)
	}
	s := session(defs[0], 7, ran, [2]string{"10.0.0.1", "Failure"})
	f.clock.Advance(time.Hour)
	res := f.syncHistory(t, &history{sessions: []scanagent.ScanSession{s}})
	if res.Inserted != 0 || res.Changed != 1 || res.Targets != 1 {
		t.Fatalf("history of the same run: %+v", res)
	}
	var sessionID, source string
	if err := f.pool.QueryRow(context.Background(), `
		SELECT session_id, source FROM defender.scan_sessions WHERE definition_id = $1`, defs[0].ID).Scan(&sessionID, &source); err != nil {
		t.Fatal(err)
	}
	if sessionID != s.SessionID || source != "history" {
		t.Errorf("session %q from %s, want %q from the history", sessionID, source, s.SessionID)
	}
	// The definition's latestScan, listed again, adds nothing.
	f.clock.Advance(time.Hour)
	before := f.scanSnapshot(t)
	f.syncDefinitions(t, definitionsOf(defs...))
	if after := f.scanSnapshot(t); after != before {
		t.Fatalf("the latestScan listed again wrote rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestCoverageAnswersTheAuditor: scan_coverage and scan_target_status from
// a few sessions, read as a member of defender_reader.
func TestCoverageAnswersTheAuditor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	recs := agents(5)
	recs[1].LastSeen = t0.Add(-10 * 24 * time.Hour) // stale
	f.sync(t, listOf(recs...))
	defs := definitions(3)
	defs[2].IsActive = ptr(false)
	f.clock.Advance(time.Minute)
	f.syncDefinitions(t, definitionsOf(defs...))
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 4, t0.Add(-1*time.Hour), [2]string{"10.0.0.1", "Failure"}),
		session(defs[0], 3, t0.Add(-5*time.Hour), [2]string{"10.0.0.1", "Failure"}),
		session(defs[0], 2, t0.Add(-9*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.2", "Failure"}),
		session(defs[0], 1, t0.Add(-13*time.Hour), [2]string{"10.0.0.1", "Success"}),
		session(defs[1], 1, t0.Add(-2*time.Hour), [2]string{"10.0.0.1", "Success"}),
	}}
	f.clock.Advance(time.Minute)
	hist := f.syncHistory(t, h)
	reader := dbtest.ReaderPool(t, f.url)

	type coverage struct {
		lastSuccess, lastFailure *time.Time
		failures                 int
		stale, deleted           *bool
		historyRun               int64
	}
	got := map[string]coverage{}
	rows, err := reader.Query(context.Background(), `
		SELECT definition_id, last_success_at, last_failure_at, consecutive_failures, scanner_stale, scanner_deleted, history_run_id
		  FROM defender.scan_coverage`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var c coverage
		if err := rows.Scan(&id, &c.lastSuccess, &c.lastFailure, &c.failures, &c.stale, &c.deleted, &c.historyRun); err != nil {
			t.Fatal(err)
		}
		got[id] = c
	}
	if len(got) != 2 {
		t.Fatalf("coverage of %d definitions, want the 2 active ones: %v", len(got), got)
	}
	c0, c1 := got[defs[0].ID], got[defs[1].ID]
	if c0.failures != 2 || !c0.lastSuccess.Equal(t0.Add(-13*time.Hour)) || !c0.lastFailure.Equal(t0.Add(-1*time.Hour)) {
		t.Errorf("definition 0: %+v", c0)
	}
	if c0.stale == nil || *c0.stale || c1.stale == nil || !*c1.stale || *c1.deleted || c1.failures != 0 {
		t.Errorf("scanner states: %+v, %+v", c0, c1)
	}
	if c0.historyRun != hist.RunID {
		t.Errorf("history run %d, want %d", c0.historyRun, hist.RunID)
	}

	var latest string
	var lastSuccess time.Time
	var covering []string
	var runID int64
	if err := reader.QueryRow(context.Background(), `
		SELECT latest_outcome, last_success_at, covering_definitions, as_of_run_id
		  FROM defender.scan_target_status WHERE target = '10.0.0.1'`).Scan(&latest, &lastSuccess, &covering, &runID); err != nil {
		t.Fatal(err)
	}
	if latest != "failure" || !lastSuccess.Equal(t0.Add(-2*time.Hour)) || !slices.Equal(covering, []string{defs[0].ID, defs[1].ID}) || runID != hist.RunID {
		t.Errorf("10.0.0.1: %s, last success %v, covered by %v, run %d", latest, lastSuccess, covering, runID)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_target_status WHERE target = '10.0.0.2' AND last_success_at IS NULL`); n != 1 {
		t.Error("10.0.0.2 never succeeded, yet has a last success")
	}
	if m := dbtest.TargetStatusMismatches(t, f.pool); len(m) > 0 {
		t.Errorf("target_status differs from its definition:\n%s", strings.Join(m, "\n"))
	}

	// A definition switched off no longer covers the target, at once; one
	// deleted neither.
	defs[1].IsActive = ptr(false)
	f.clock.Advance(time.Minute)
	f.syncDefinitions(t, definitionsOf(defs...))
	if err := reader.QueryRow(context.Background(), `
		SELECT covering_definitions FROM defender.scan_target_status WHERE target = '10.0.0.1'`).Scan(&covering); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(covering, []string{defs[0].ID}) {
		t.Errorf("10.0.0.1 covered by %v after %s was switched off, want [%s]", covering, defs[1].ID, defs[0].ID)
	}
	f.clock.Advance(time.Minute)
	f.syncDefinitions(t, definitionsOf(defs[1:]...))
	if n := f.count(t, `SELECT count(*) FROM defender.scan_target_status WHERE covering_definitions <> '{}'`); n != 0 {
		t.Errorf("%d targets still covered after their definition was deleted", n)
	}
	if m := dbtest.TargetStatusMismatches(t, f.pool); len(m) > 0 {
		t.Errorf("target_status differs from its definition after definitions changed:\n%s", strings.Join(m, "\n"))
	}
}

// TestTargetStatusFollowsRewrittenSessions: a history sync that rewrites
// a stored session (the listing corrects it) and stores no target
// refreshes the status of the targets whose latest scan it is, and of no
// other.
func TestTargetStatusFollowsRewrittenSessions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(3)...))
	defs := definitions(2)
	f.clock.Advance(time.Minute)
	f.syncDefinitions(t, definitionsOf(defs...))
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[1], 1, t0.Add(-2*time.Hour), [2]string{"10.0.0.2", "Success"}),
		session(defs[0], 1, t0.Add(-3*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.3", "Fail"}),
		session(defs[0], 2, t0.Add(-1*time.Hour), [2]string{"10.0.0.1", "Fail"}),
	}}
	f.clock.Advance(time.Minute)
	first := f.syncHistory(t, h)
	if first.Targets != 4 {
		t.Fatalf("first history sync stored %d targets, want 4", first.Targets)
	}
	// A stored row of the target another session scanned is made wrong:
	// a refresh of every target of the tenant would put it right.
	if _, err := f.pool.Exec(context.Background(), `
		UPDATE defender_storage.target_status SET latest_session_id = 'planted' WHERE target = '10.0.0.2'`); err != nil {
		t.Fatal(err)
	}

	// The listing now gives the first session a later time.
	corrected := t0.Add(-150 * time.Minute)
	h.mu.Lock()
	h.sessions[1].ScannedAt = corrected
	h.mu.Unlock()
	f.clock.Advance(time.Hour)
	second := f.syncHistory(t, h)
	if second.Changed != 1 || second.Targets != 0 {
		t.Fatalf("second history sync: %d sessions changed, %d targets stored; want 1 and 0", second.Changed, second.Targets)
	}
	var at time.Time
	if err := f.pool.QueryRow(context.Background(), `
		SELECT latest_scanned_at FROM defender_storage.target_status WHERE target = '10.0.0.3'`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(corrected) {
		t.Errorf("10.0.0.3's latest scan at %v after the session was corrected to %v", at, corrected)
	}
	// Every row is what the definition computes, but the planted one: the
	// sync refreshed the targets of the session it rewrote, and no other.
	m := dbtest.TargetStatusMismatches(t, f.pool)
	if len(m) != 2 || !strings.Contains(strings.Join(m, "\n"), "planted") {
		t.Errorf("target_status after a session was rewritten, against its definition (want only the planted row of 10.0.0.2):\n%s", strings.Join(m, "\n"))
	}

	// A success listed late, older than 10.0.0.1's latest scan (a
	// failure): its last success moves, its latest scan does not.
	late := session(defs[0], 3, t0.Add(-2*time.Hour), [2]string{"10.0.0.1", "Success"})
	h.mu.Lock()
	h.sessions = append(h.sessions, late)
	h.mu.Unlock()
	f.clock.Advance(time.Hour)
	if third := f.syncHistory(t, h); third.Inserted != 1 || third.Targets != 1 {
		t.Fatalf("third history sync: %d sessions inserted, %d targets stored; want 1 and 1", third.Inserted, third.Targets)
	}
	var lastSuccess time.Time
	if err := f.pool.QueryRow(context.Background(), `
		SELECT last_success_at FROM defender_storage.target_status WHERE target = '10.0.0.1'`).Scan(&lastSuccess); err != nil {
		t.Fatal(err)
	}
	if !lastSuccess.Equal(late.ScannedAt) {
		t.Errorf("10.0.0.1's last success at %v after a success at %v was listed late", lastSuccess, late.ScannedAt)
	}
	if m := dbtest.TargetStatusMismatches(t, f.pool); len(m) != 2 {
		t.Errorf("target_status after a late success, against its definition (want only the planted row of 10.0.0.2):\n%s", strings.Join(m, "\n"))
	}
}

// TestResourcesRunAndFailApart: each resource is its own run; a failed
// one undoes no other, and every reader of agent runs ignores the others.
func TestResourcesRunAndFailApart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	defs := definitions(2)
	src := load.Sources{Agents: listOf(agents(5)...), Definitions: definitionsOf(defs...), History: &history{}}
	out := f.loader.SyncResources(context.Background(), scanagent.AllResources, src)
	if len(out) != 3 || out[0].Err != nil || out[1].Err != nil || out[2].Err != nil {
		t.Fatalf("outcomes %+v", out)
	}
	agentsRun := out[0].RunID
	f.clock.Advance(time.Hour)
	src.Definitions = func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		return scanagent.ListStats{}, errors.New("403 Forbidden")
	}
	src.Agents = listOf(agents(6)...)
	out = f.loader.SyncResources(context.Background(), []scanagent.Resource{scanagent.History, scanagent.Definitions, scanagent.Agents}, src)
	if out[0].Resource != scanagent.Agents || out[0].Err != nil || out[1].Err == nil || out[2].Err != nil {
		t.Fatalf("outcomes %+v", out)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents WHERE deleted_at IS NULL`); n != 6 {
		t.Errorf("%d agents after a failed definitions sync, want the 6 the agents sync stored", n)
	}
	var runs string
	if err := f.pool.QueryRow(context.Background(), `SELECT string_agg(resource || ':' || status, ',' ORDER BY run_id) FROM defender.sync_runs`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != "agents:succeeded,definitions:succeeded,history:succeeded,agents:succeeded,definitions:failed,history:succeeded" {
		t.Errorf("runs %s", runs)
	}
	last, ok, err := f.loader.LastRun(context.Background())
	if err != nil || !ok || last.RunID != out[0].RunID {
		t.Errorf("LastRun = %+v, %v, %v; want the agents run %d", last, ok, err, out[0].RunID)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.tenants WHERE last_run_id = $1`, out[0].RunID); n != 1 {
		t.Error("tenants.last_run_id is not the latest agents run")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agents_as_of(now()) WHERE as_of_run_id = $1`, out[0].RunID); n != 6 {
		t.Errorf("scan_agents_as_of answers from another run than the latest agents run")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_daily WHERE as_of_run_id = $1 AND syncs_observed = 1`, agentsRun); n != 0 {
		t.Errorf("the daily rollup counts other resources' runs as agent syncs")
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_agent_daily WHERE syncs_observed = 2`); n != 5 {
		t.Errorf("%d agents observed by 2 syncs of the day, want 5", n)
	}
	// A run of one resource left running is abandoned by the next run of
	// that resource, not of another.
	if _, err := f.pool.Exec(context.Background(), `
		INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at)
		SELECT tenant_no, 'h', $2 FROM defender_storage.tenants WHERE tenant_id = $1`, tenant, t0); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	f.sync(t, listOf(agents(6)...))
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'running'`); n != 1 {
		t.Errorf("an agents sync touched a running history run")
	}
	f.syncHistory(t, &history{})
	if n := f.count(t, `SELECT count(*) FROM defender.sync_runs WHERE status = 'failed' AND error LIKE 'abandoned%'`); n != 1 {
		t.Errorf("the history sync did not mark the abandoned history run failed")
	}
}

// TestLateSessionIsStored: a session that the history lists for the first
// time more than a day after it ran (a scanner that uploads late) is
// stored by the next history sync, as long as it ran within the lookback,
// and scan_target_status then says its target was scanned; the sessions
// already stored, read again, write nothing.
func TestLateSessionIsStored(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(5)...))
	defs := definitions(2)
	f.syncDefinitions(t, definitionsOf(defs...))
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 1, t0.Add(-time.Hour), [2]string{"10.0.0.1", "Success"}),
	}}
	f.clock.Advance(time.Minute)
	f.syncHistory(t, h)
	// Two days later the session of defs[1] that ran an hour after t0 is
	// not listed yet.
	f.clock.Advance(48 * time.Hour)
	f.syncHistory(t, h)
	ran := t0.Add(time.Hour)
	if n := f.count(t, `SELECT count(*) FROM defender.scan_target_status WHERE target = '10.0.1.1' AND last_success_at IS NOT NULL`); n != 0 {
		t.Fatalf("10.0.1.1 scanned before its session was listed")
	}
	before := f.scanSnapshot(t)
	late := session(defs[1], 1, ran, [2]string{"10.0.1.1", "Success"})
	h.mu.Lock()
	h.sessions = append(h.sessions, late)
	h.mu.Unlock()
	f.clock.Advance(time.Hour)
	res := f.syncHistory(t, h)
	if res.Inserted != 1 || res.Unchanged != 1 || res.Targets != 1 {
		t.Fatalf("the sync that first lists the late session: %+v", res)
	}
	if since := h.asked[len(h.asked)-1]; !since.Equal(f.clock.Now().Add(-load.DefaultHistoryLookback)) {
		t.Errorf("reading since %v, want the whole lookback back from the fetch", since)
	}
	var outcome string
	var lastSuccess time.Time
	if err := f.pool.QueryRow(context.Background(), `
		SELECT latest_outcome, last_success_at FROM defender.scan_target_status WHERE target = '10.0.1.1'`).Scan(&outcome, &lastSuccess); err != nil {
		t.Fatalf("10.0.1.1 in scan_target_status: %v", err)
	}
	if outcome != "success" || !lastSuccess.Equal(ran) {
		t.Errorf("10.0.1.1: %s, last success %v, want success at %v", outcome, lastSuccess, ran)
	}
	// Only the late session and its target were written.
	after := f.scanSnapshot(t)
	if added := strings.Count(after, "\n") - strings.Count(before, "\n"); added < 2 {
		t.Errorf("%d rows added, want the session, its target and its coverage", added)
	}
	for _, line := range strings.Split(before, "\n") {
		if !strings.Contains(after, line) {
			t.Errorf("a stored row was rewritten: %s", line)
		}
	}

	// A stored session that the history lists differently is still
	// corrected, once.
	h.mu.Lock()
	h.sessions[1].GeneralError = "the scanner lost its network for a while"
	h.mu.Unlock()
	f.clock.Advance(time.Hour)
	if res := f.syncHistory(t, h); res.Changed != 1 || res.Unchanged != 1 {
		t.Fatalf("the sync of a corrected session: %+v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender.scan_sessions WHERE session_id = $1 AND general_error LIKE 'the scanner lost%'`, late.SessionID); n != 1 {
		t.Errorf("the correction is not stored")
	}
	corrected := f.scanSnapshot(t)
	f.clock.Advance(time.Hour)
	if res := f.syncHistory(t, h); res.Changed != 0 || res.Unchanged != 2 {
		t.Fatalf("the sync after the correction: %+v", res)
	}
	if got := f.scanSnapshot(t); got != corrected {
		t.Errorf("the same history read again wrote rows:\nbefore:\n%s\nafter:\n%s", corrected, got)
	}
}

// TestSessionsStoredWithoutFingerprintAreComparedOnce: sessions stored
// before the fingerprints existed are compared in full by the next
// history sync, which stores their fingerprints and nothing else; the
// sync after it writes nothing.
func TestSessionsStoredWithoutFingerprintAreComparedOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	defs := definitions(2)
	f.syncDefinitions(t, definitionsOf(defs...))
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 2, t0.Add(-time.Hour), [2]string{"10.0.0.1", "Success"}),
		session(defs[1], 1, t0.Add(-3*time.Hour), [2]string{"10.0.1.1", "Failure"}),
	}}
	f.clock.Advance(time.Minute)
	f.syncHistory(t, h)
	if _, err := f.pool.Exec(context.Background(), `UPDATE defender_storage.session_result SET listed_fingerprint = NULL`); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if res := f.syncHistory(t, h); res.Unchanged != 2 || res.Changed+res.Inserted != 0 {
		t.Fatalf("sync of sessions without fingerprint: %+v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM defender_storage.session_result WHERE listed_fingerprint IS NULL OR updated_at IS NOT NULL`); n != 0 {
		t.Errorf("%d sessions without fingerprint or marked updated", n)
	}
	before := f.scanSnapshot(t)
	f.clock.Advance(time.Hour)
	if res := f.syncHistory(t, h); res.Unchanged != 2 {
		t.Fatalf("the next sync: %+v", res)
	}
	if after := f.scanSnapshot(t); after != before {
		t.Errorf("the next sync wrote rows:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// repairingHistory is a history whose readings say they repaired a field
// of the first session: its generalErrorMessage by definition, a target's
// hostname by id.
type repairingHistory struct{ *history }

func (h repairingHistory) SessionsByDefinition(ctx context.Context, ids []string, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	st, err := h.history.SessionsByDefinition(ctx, ids, since, fn)
	st.FieldsRepaired, st.RepairedFields, st.RepairedIDs = 1, []string{"generalErrorMessage"}, []string{h.sessions[0].SessionID}
	return st, err
}

func (h repairingHistory) SessionsByID(ctx context.Context, ids []string, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	st, err := h.history.SessionsByID(ctx, ids, fn)
	st.FieldsRepaired, st.RepairedFields, st.RepairedIDs = 2, []string{"scannedTargets.hostname"}, []string{h.sessions[0].SessionID}
	return st, err
}

// TestRepairedScanFieldsAreCounted: the fields of definitions and of the
// scan history repaired to be stored are counted in their runs, and a
// history run names those of both its readings in one line.
func TestRepairedScanFieldsAreCounted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.sync(t, listOf(agents(5)...))
	defs := definitions(2)
	res := f.syncDefinitions(t, func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		st, err := definitionsOf(defs...)(ctx, fn)
		st.FieldsRepaired, st.RepairedFields, st.RepairedIDs = 1, []string{"scanName"}, []string{defs[1].ID}
		return st, err
	})
	if r := f.run(t, res.RunID); res.FieldsRepaired != 1 || r.FieldsRepaired != 1 {
		t.Errorf("definitions: result %+v, run %+v, want 1 field repaired", res, r)
	}
	h := repairingHistory{&history{sessions: []scanagent.ScanSession{
		session(defs[0], 1, t0.Add(-time.Hour), [2]string{"10.0.0.1", "Success"}),
	}}}
	f.clock.Advance(time.Minute)
	res = f.syncHistory(t, h)
	if r := f.run(t, res.RunID); res.FieldsRepaired != 3 || r.FieldsRepaired != 3 {
		t.Errorf("history: result %+v, run %+v, want 3 fields repaired", res, r)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "repaired fields PostgreSQL cannot store as sent"); n != 1 {
		t.Errorf("%d lines about repaired fields, want 1 for the history run:\n%s", n, logs)
	}
	want := `fields_repaired=3 fields="[generalErrorMessage scannedTargets.hostname]" ids=[` + h.sessions[0].SessionID + `]`
	if !strings.Contains(logs, "scan history: repaired fields") || !strings.Contains(logs, want) {
		t.Errorf("no line naming both readings' repairs (%s):\n%s", want, logs)
	}
}

// statusLessListing lists a history by definition without the sessions'
// status, which only the reading by session gives.
type statusLessListing struct{ *history }

func (h statusLessListing) SessionsByDefinition(ctx context.Context, ids []string, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	return h.history.SessionsByDefinition(ctx, ids, since, func(s scanagent.ScanSession) error {
		s.Status = ""
		return fn(s)
	})
}

// TestANewSessionIsWrittenOnce: a session new to the store is written
// once, with what both readings said of it and its targets, not inserted
// from the listing and then updated from the reading by session in the
// same transaction; a stored session whose targets are read later is
// marked then, once.
func TestANewSessionIsWrittenOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, func(c *load.Config) { c.HistoryLookback = 48 * time.Hour })
	f.sync(t, listOf(agents(5)...))
	defs := definitions(2)
	f.syncDefinitions(t, definitionsOf(defs...))
	// Every update of a stored session, counted by a trigger of this
	// test's own.
	if _, err := f.pool.Exec(ctx, `
		CREATE TABLE public.session_updates (session_key bigint, targets_run_id bigint);
		CREATE FUNCTION public.count_session_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    INSERT INTO public.session_updates VALUES (NEW.session_key, NEW.targets_run_id);
		    RETURN NULL;
		END $$;
		CREATE TRIGGER count_session_update AFTER UPDATE ON defender_storage.session_result
		    FOR EACH ROW EXECUTE FUNCTION public.count_session_update()`); err != nil {
		t.Fatal(err)
	}
	h := &history{sessions: []scanagent.ScanSession{
		session(defs[0], 2, t0.Add(-1*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.2", "Failure"}),
		session(defs[1], 1, t0.Add(-2*time.Hour), [2]string{"10.0.1.1", "Success"}),
		session(defs[0], 1, t0.Add(-5*time.Hour), [2]string{"10.0.0.1", "Success"}),
	}}
	f.clock.Advance(time.Minute)
	res := f.syncHistory(t, statusLessListing{h})
	if res.Seen != 3 || res.Inserted != 3 || res.Changed != 0 || res.Targets != 4 {
		t.Fatalf("first history sync: %+v", res)
	}
	if n := f.count(t, `SELECT count(*) FROM public.session_updates`); n != 0 {
		t.Errorf("the first sync updated %d sessions it inserted, want none", n)
	}
	if n := f.count(t, `
		SELECT count(*) FROM defender_storage.session_result
		 WHERE status IS NOT NULL AND targets_run_id = recorded_by_run_id
		   AND updated_at IS NULL AND updated_by_run_id IS NULL`); n != 3 {
		t.Errorf("%d sessions recorded with their status and targets by one run and never updated, want 3", n)
	}

	// A new session whose reading by session fails to return it is
	// stored from the listing; the next sync reads its targets and marks
	// it, once.
	h.sessions = append([]scanagent.ScanSession{session(defs[1], 2, t0.Add(30*time.Minute), [2]string{"10.0.1.1", "Success"})}, h.sessions...)
	f.clock.Advance(time.Hour)
	res = f.syncHistory(t, missingByID{h, h.sessions[0].SessionID})
	if res.Inserted != 1 || res.Targets != 0 {
		t.Fatalf("history sync without the new session's targets: %+v", res)
	}
	// (That sync stored the listing's fingerprints of the first three, as
	// it now lists them with their status.)
	if _, err := f.pool.Exec(ctx, `DELETE FROM public.session_updates`); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	res = f.syncHistory(t, h)
	if res.Inserted != 0 || res.Targets != 1 {
		t.Fatalf("history sync that reads the stored session's targets: %+v", res)
	}
	if n := f.count(t, `
		SELECT count(*) FROM public.session_updates u
		  JOIN defender_storage.session_result s USING (session_key)
		 WHERE s.session_id = $1 AND u.targets_run_id IS NOT NULL`, h.sessions[0].SessionID); n != 1 {
		t.Errorf("the stored session was marked %d times, want once", n)
	}
	if n := f.count(t, `SELECT count(*) FROM public.session_updates`); n != 1 {
		t.Errorf("%d updates of sessions by that sync, want the one mark", n)
	}
}

// missingByID is a history whose reading by session leaves out one
// session.
type missingByID struct {
	*history
	missing string
}

func (h missingByID) SessionsByID(ctx context.Context, ids []string, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	return h.history.SessionsByID(ctx, ids, func(s scanagent.ScanSession) error {
		if s.SessionID == h.missing {
			return nil
		}
		return fn(s)
	})
}
