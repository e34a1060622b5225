package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
)

func (f *fixture) definitions(t *testing.T) ([]scanagent.ScanDefinition, scanagent.ListStats, error) {
	t.Helper()
	var defs []scanagent.ScanDefinition
	st, err := f.client.ListDefinitions(context.Background(), func(d scanagent.ScanDefinition) error {
		defs = append(defs, d)
		return nil
	})
	return defs, st, err
}

func (f *fixture) sessions(t *testing.T, ids []string, since time.Time) ([]scanagent.ScanSession, scanagent.ListStats, error) {
	t.Helper()
	var out []scanagent.ScanSession
	st, err := f.client.SessionsByDefinition(context.Background(), ids, since, func(s scanagent.ScanSession) error {
		out = append(out, s)
		return nil
	})
	return out, st, err
}

func sameJSON[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestListDefinitionsInEveryCasing(t *testing.T) {
	t.Parallel()
	fleet := defendertest.NewFleet(5, 200, fleetStart)
	at := fleetStart.Add(20 * 24 * time.Hour)
	for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingCamel, defendertest.CasingPascal, defendertest.CasingSnake, defendertest.CasingMixed} {
		t.Run(casing.String(), func(t *testing.T) {
			t.Parallel()
			f := setup(t, []defendertest.Option{defendertest.WithFleet(fleet, at), defendertest.WithPageSize(9), defendertest.WithCasing(casing)}, nil)
			var want []scanagent.ScanDefinition
			for _, d := range f.tenant.Definitions() {
				want = append(want, d.Record())
			}
			if len(want) < 30 {
				t.Fatalf("the fleet lists %d definitions; the test needs more", len(want))
			}
			got, st, err := f.definitions(t)
			if err != nil {
				t.Fatalf("ListDefinitions: %v", err)
			}
			sameJSON(t, "definitions", got, want)
			pages := (len(want) + 8) / 9
			if st.Pages != pages || st.Requests != pages || st.Agents != len(want) || st.Rejected != 0 {
				t.Fatalf("stats %+v, want %d pages and requests, %d definitions", st, pages, len(want))
			}
		})
	}
}

// hourlySessions are n sessions of one definition, an hour apart, newest
// first, ending at end.
func hourlySessions(definition string, n int, end time.Time) []defendertest.Session {
	out := make([]defendertest.Session, n)
	for i := range out {
		out[i] = defendertest.Session{
			DefinitionID: definition,
			SessionID:    fmt.Sprintf("%s%04d", strings.Repeat("ab", 14), i),
			ScannerID:    "625431694b7d2ca9d07e77ca1b029ef216bebb6d",
			Status:       "Success",
			ScannedAt:    end.Add(-time.Duration(i) * time.Hour),
			Targets:      []defendertest.Target{{IP: "10.0.0.1", Status: "Success", Duration: time.Minute}},
		}
	}
	return out
}

func sessionRecords(sessions []defendertest.Session, targets bool) []scanagent.ScanSession {
	out := make([]scanagent.ScanSession, len(sessions))
	for i, s := range sessions {
		out[i] = s.Record(targets)
	}
	return out
}

func TestSessionsByDefinitionPageWithTopAndSkipUntilAShortPage(t *testing.T) {
	t.Parallel()
	end := fleetStart.Add(30 * 24 * time.Hour)
	for _, tc := range []struct {
		sessions, requests int
	}{
		{23, 5}, // 5, 5, 5, 5, 3
		{20, 5}, // 5, 5, 5, 5, 0: a full page is never the last
		{0, 1},
	} {
		t.Run(fmt.Sprint(tc.sessions), func(t *testing.T) {
			t.Parallel()
			sessions := hourlySessions("def-1", tc.sessions, end)
			for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingCamel} {
				f := setup(t, []defendertest.Option{defendertest.WithScans(nil, sessions), defendertest.WithCasing(casing)},
					func(c *Config) { c.HistoryPageSize = 5 })
				got, st, err := f.sessions(t, []string{"def-1"}, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, casing.String(), got, sessionRecords(sessions, false))
				if st.Requests != tc.requests || st.Pages != tc.requests {
					t.Errorf("%s: %d requests, %d pages; want %d", casing, st.Requests, st.Pages, tc.requests)
				}
				paths := f.tenant.Stats().Paths
				if paths[defendertest.HistoryByDefinitionPath] != tc.requests {
					t.Errorf("%s: the tenant saw %v", casing, paths)
				}
			}
		})
	}
}

func TestSessionsByDefinitionBatchesIDs(t *testing.T) {
	t.Parallel()
	end := fleetStart.Add(30 * 24 * time.Hour)
	var sessions []defendertest.Session
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("def-%d", i)
		ids = append(ids, id)
		s := hourlySessions(id, 2, end.Add(-time.Duration(i)*time.Minute))
		for j := range s {
			s[j].SessionID = fmt.Sprintf("%030d%d%d", 0, i, j)
		}
		sessions = append(sessions, s...)
	}
	f := setup(t, []defendertest.Option{defendertest.WithScans(nil, sessions)}, func(c *Config) { c.HistoryBatchSize = 2 })
	got, st, err := f.sessions(t, ids, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || st.Requests != 3 {
		t.Fatalf("%d sessions in %d requests, want 10 in 3 (batches of 2, 2 and 1 ids)", len(got), st.Requests)
	}
}

// TestSessionsByDefinitionStopsBeforeSince: listed newest first, paging
// stops at the page that reaches before since; listed in another order,
// every page is read. Either way exactly the sessions since are handed on.
func TestSessionsByDefinitionStopsBeforeSince(t *testing.T) {
	t.Parallel()
	end := fleetStart.Add(30 * 24 * time.Hour)
	sessions := hourlySessions("def-1", 23, end)
	since := sessions[6].ScannedAt
	for _, oldestFirst := range []bool{false, true} {
		f := setup(t, []defendertest.Option{defendertest.WithScans(nil, sessions)}, func(c *Config) { c.HistoryPageSize = 5 })
		f.tenant.SetHistoryOldestFirst(oldestFirst)
		got, st, err := f.sessions(t, []string{"def-1"}, since)
		if err != nil {
			t.Fatal(err)
		}
		want := sessionRecords(sessions[:7], false)
		if oldestFirst {
			slices.Reverse(want)
		}
		sameJSON(t, fmt.Sprintf("oldest first %v", oldestFirst), got, want)
		wantRequests := 2
		if oldestFirst {
			wantRequests = 5
		}
		if st.Requests != wantRequests {
			t.Errorf("oldest first %v: %d requests, want %d", oldestFirst, st.Requests, wantRequests)
		}
	}
}

func TestSessionsByIDCarryTargets(t *testing.T) {
	t.Parallel()
	fleet := defendertest.NewFleet(5, 120, fleetStart)
	at := fleetStart.Add(20 * 24 * time.Hour)
	for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingCamel, defendertest.CasingSnake, defendertest.CasingMixed} {
		f := setup(t, []defendertest.Option{defendertest.WithFleet(fleet, at), defendertest.WithCasing(casing)}, func(c *Config) { c.HistoryBatchSize = 7 })
		defs := f.tenant.Definitions()
		sessions := f.tenant.Sessions(defs[0].ID, defs[1].ID)[:20]
		var ids []string
		for _, s := range sessions {
			ids = append(ids, s.SessionID)
		}
		ids = append(ids, "00000000000000000000000000000000") // unknown: left out
		var got []scanagent.ScanSession
		st, err := f.client.SessionsByID(context.Background(), ids, func(s scanagent.ScanSession) error {
			got = append(got, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, casing.String(), got, sessionRecords(sessions, true))
		if st.Requests != 3 {
			t.Errorf("%s: %d requests, want 3 batches of 7 ids", casing, st.Requests)
		}
	}
}

func TestSessionsWithoutIDs(t *testing.T) {
	t.Parallel()
	sessions := hourlySessions("def-1", 3, fleetStart)
	f := setup(t, []defendertest.Option{defendertest.WithScans(nil, sessions)}, nil)
	f.tenant.SetSessionIDs(false)
	got, _, err := f.sessions(t, []string{"def-1"}, time.Time{})
	if err != nil || len(got) != 3 {
		t.Fatalf("%d sessions, %v", len(got), err)
	}
	for _, s := range got {
		if s.SessionID != "" || s.DefinitionID != "def-1" || s.ScannedAt.IsZero() {
			t.Errorf("session %+v", s)
		}
	}
}

// TestScanEndpointsShareTheFaultHandling: the scan endpoints are read
// through the same requests, retries and errors as the agents listing.
func TestScanEndpointsShareTheFaultHandling(t *testing.T) {
	t.Parallel()
	sessions := hourlySessions("def-1", 12, fleetStart)
	defs := []defendertest.Definition{{ID: "def-1", Name: "n", IsActive: true}}
	setupScans := func() *fixture {
		return setup(t, []defendertest.Option{defendertest.WithScans(defs, sessions), defendertest.WithPageSize(1)},
			func(c *Config) { c.HistoryPageSize = 5 })
	}

	f := setupScans()
	f.tenant.Inject(defendertest.TooManyRequests("1").On(defendertest.HistoryByDefinitionPath).OnPage(2),
		defendertest.ServerError(503).On(defendertest.DefinitionsPath))
	if _, _, err := f.definitions(t); err != nil {
		t.Fatalf("definitions after a 503: %v", err)
	}
	if got, st, err := f.sessions(t, []string{"def-1"}, time.Time{}); err != nil || len(got) != 12 || st.Requests != 4 {
		t.Fatalf("history after a 429: %d sessions, %d requests, %v", len(got), st.Requests, err)
	}
	if r := f.obs.retried(); !slices.Equal(r, []string{"5xx", "429"}) {
		t.Errorf("retries %v", r)
	}

	for name, tc := range map[string]struct {
		fault defendertest.Fault
		call  func(f *fixture) error
		is    error
		want  []string
	}{
		"forbidden history by session": {defendertest.Status(403).On(defendertest.HistoryBySessionPath),
			func(f *fixture) error {
				_, err := f.client.SessionsByID(context.Background(), []string{sessions[0].SessionID}, func(scanagent.ScanSession) error { return nil })
				return err
			}, nil, []string{"scan history by session", "POST /api/DeviceAuthenticatedScanDefinitions/GetScanHistoryBySessionId", "status 403", "Forbidden"}},
		"404 definitions": {defendertest.NotFound().On(defendertest.DefinitionsPath),
			func(f *fixture) error { _, _, err := f.definitions(t); return err }, ErrNotFound, []string{"scan definitions", "GET /api/DeviceAuthenticatedScanDefinitions"}},
		"truncated definitions": {defendertest.TruncatedBody().On(defendertest.DefinitionsPath),
			func(f *fixture) error { _, _, err := f.definitions(t); return err }, ErrBadBody, []string{"not valid JSON", "not quoted"}},
		"nextLink loop in history": {defendertest.NextLinkLoop().On(defendertest.HistoryByDefinitionPath),
			func(f *fixture) error { _, _, err := f.sessions(t, []string{"def-1"}, time.Time{}); return err }, ErrNextLinkLoop, []string{"scan history by definition", "fetch page 2"}},
		"HTML history": {defendertest.HTMLPage(502).On(defendertest.HistoryByDefinitionPath).Always(),
			func(f *fixture) error { _, _, err := f.sessions(t, []string{"def-1"}, time.Time{}); return err }, nil, []string{"gave up after 4 attempts", "status 502"}},
	} {
		f := setupScans()
		f.tenant.Inject(tc.fault)
		err := tc.call(f)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.is)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}
}

// TestHistoryIgnoringSkipIsAnError: an API that answers every $skip with
// the first page would page until the cap; the repeated page stops it.
func TestHistoryIgnoringSkipIsAnError(t *testing.T) {
	t.Parallel()
	body := defendertest.RenderHistory("", defendertest.HistoryByDefinitionPath, hourlySessions("def-1", 5, fleetStart), defendertest.CasingVendor, false, true, "", "")
	tenant := defendertest.New()
	inner := tenant.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == defendertest.HistoryByDefinitionPath {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := New(Config{TenantID: defendertest.DefaultTenantID, ClientID: defendertest.DefaultClientID, ClientSecret: defendertest.DefaultClientSecret,
		APIURL: srv.URL, TokenURL: srv.URL + defendertest.TokenPath(defendertest.DefaultTenantID), HistoryPageSize: 5},
		WithRateBudget(RateBudget{}), WithRetryPolicy(fastRetries))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.SessionsByDefinition(context.Background(), []string{"def-1"}, time.Time{}, func(scanagent.ScanSession) error { return nil })
	if !errors.Is(err, ErrPageRepeated) || st.Requests != 2 {
		t.Fatalf("err = %v after %d requests, want ErrPageRepeated after 2", err, st.Requests)
	}
}

func TestParseScanDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"00:08:30":         8*time.Minute + 30*time.Second,
		"00:00:03.1234567": 3*time.Second + 123456*time.Microsecond,
		"23:59:59.9999999": 24*time.Hour - time.Microsecond,
		"1.02:03:04":       26*time.Hour + 3*time.Minute + 4*time.Second,
		"PT1M30S":          90 * time.Second,
		"P1DT2H":           26 * time.Hour,
		"PT0.5S":           500 * time.Millisecond,
	} {
		if got, err := parseScanDuration(in); err != nil || got != want {
			t.Errorf("parseScanDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "8:30", "00:60:00", "24:00:00", "0:08:30", "00:08:30.", "-00:08:30", "1.-2:00:00", "PT", "P1H", "PTS", "PT1X", "P99999999999D", "00:08:30.1234567890"} {
		if got, err := parseScanDuration(in); err == nil {
			t.Errorf("parseScanDuration(%q) = %v, want an error", in, got)
		}
	}
}

// TestEveryEndpointSpendsTheOneBudget: agents, definitions and both
// history actions, read by one client, share the tenant's one budget.
func TestEveryEndpointSpendsTheOneBudget(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var sent []time.Time
	sessions := hourlySessions("def-1", 12, fleetStart)
	f := setup(t, []defendertest.Option{defendertest.WithAgents(defendertest.NewFleet(1, 10, fleetStart).AgentsAt(fleetStart)),
		defendertest.WithScans([]defendertest.Definition{{ID: "def-1"}, {ID: "def-2"}}, sessions), defendertest.WithPageSize(1)},
		func(c *Config) { c.HistoryPageSize, c.HistoryBatchSize = 5, 4 },
		WithRateBudget(RateBudget{PerMinute: 3, PerHour: 8}), func(o *options) { o.clock = clk })
	f.obs.onRequest = func(int) { sent = append(sent, clk.Now()) }
	if _, _, err := f.definitions(t); err != nil { // 2 pages
		t.Fatal(err)
	}
	if _, _, err := f.sessions(t, []string{"def-1", "def-2"}, time.Time{}); err != nil { // 3 pages
		t.Fatal(err)
	}
	var ids []string
	for _, s := range sessions {
		ids = append(ids, s.SessionID)
	}
	if _, err := f.client.SessionsByID(context.Background(), ids, func(scanagent.ScanSession) error { return nil }); err != nil { // 3 batches
		t.Fatal(err)
	}
	if _, _, err := f.list(t); err != nil { // 10 pages
		t.Fatal(err)
	}
	if len(sent) != 18 {
		t.Fatalf("%d requests, want 18", len(sent))
	}
	if m, h := maxInWindow(sent, time.Minute), maxInWindow(sent, time.Hour); m > 3 || h > 8 {
		t.Errorf("the endpoints together broke the budget: %d in a minute, %d in an hour", m, h)
	}
	if took := sent[17].Sub(sent[0]); took < 2*time.Hour {
		t.Errorf("18 requests at 8 an hour took %s of simulated time", took)
	}
}

// TestSessionTargetsInEveryShape: ListScannedTargets as an array, one
// object or null is read; a session one of whose targets is no object is
// rejected, naming the target. A field sent twice under two spellings is
// logged only when the values differ; the last one counts.
func TestSessionTargetsInEveryShape(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"scanDefinitionId":"def-1","sessionId":"s-1","lastScanned":"2025-09-01T10:00:00Z",
		 "scannedTargets":[{"ip":"10.0.0.1","scanStatus":"Success"},{"IP":"10.0.0.2","Ip":"10.0.0.2","hostname":"b"}]},
		{"scanDefinitionId":"def-1","sessionId":"s-2","lastScanned":"2025-09-01T09:00:00Z","scannedTargets":{"ip":"10.0.0.3"}},
		{"scanDefinitionId":"def-1","sessionId":"s-3","lastScanned":"2025-09-01T08:00:00Z","scannedTargets":null},
		{"scanDefinitionId":"def-1","sessionId":"s-4","lastScanned":"2025-09-01T07:00:00Z","scannedTargets":[{"ip":"10.0.0.4"},"10.0.0.5"]},
		{"scanDefinitionId":"def-1","sessionId":"s-5","scan_status":"Failed","ScanStatus":"Success","lastScanned":"2025-09-01T06:00:00Z","scannedTargets":[]}]}`)).On(defendertest.HistoryBySessionPath))
	var got []scanagent.ScanSession
	st, err := f.client.SessionsByID(context.Background(), []string{"s-1", "s-2", "s-3", "s-4", "s-5"}, func(s scanagent.ScanSession) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string][]string{}
	status := map[string]string{}
	for _, s := range got {
		ips := []string{}
		for _, tg := range s.ScannedTargets {
			ips = append(ips, tg.IP)
		}
		targets[s.SessionID], status[s.SessionID] = ips, s.Status
	}
	want := map[string][]string{"s-1": {"10.0.0.1", "10.0.0.2"}, "s-2": {"10.0.0.3"}, "s-3": {}, "s-5": {}}
	if !reflect.DeepEqual(targets, want) {
		t.Errorf("targets by session %v, want %v", targets, want)
	}
	if status["s-5"] != "Success" {
		t.Errorf("s-5's status %q: the last spelling counts", status["s-5"])
	}
	if st.Rejected != 1 || !slices.Equal(st.RejectedIDs, []string{"s-4"}) {
		t.Errorf("rejected %d %v, want s-4", st.Rejected, st.RejectedIDs)
	}
	logs := f.logs.String()
	for _, m := range []string{`"session_id":"s-4","reason":"scannedTargets: target 1: want an object"`, `"field":"scanStatus","first_key":"scan_status","last_key":"ScanStatus"`} {
		if !strings.Contains(logs, m) {
			t.Errorf("logs lack %s:\n%s", m, logs)
		}
	}
	if n := strings.Count(logs, "sent a field twice"); n != 1 {
		t.Errorf("%d fields logged as sent twice, want 1 (s-5's status; s-1's target sent its ip twice alike):\n%s", n, logs)
	}
}

// TestTargetsOfBracesAllocateForWhatTheyHold: the room made for a
// session's targets before reading them is bounded: a target whose
// description is a megabyte of braces costs about its own size, not room
// for a million targets.
func TestTargetsOfBracesAllocateForWhatTheyHold(t *testing.T) {
	raw := json.RawMessage(`[{"ip":"10.0.0.1","scannedDeviceDescription":"` + strings.Repeat("{", 1<<20) + `"}]`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	targets, _, why := scannedTargets(raw, nil)
	runtime.ReadMemStats(&after)
	if why != "" || len(targets) != 1 || len(targets[0].Description) != 1<<20 {
		t.Fatalf("%d targets (%q), want the one", len(targets), why)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("reading one target of a megabyte allocated %d MB", n>>20)
	}
}
