package defendertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFleetScansDrift: over a month the simulated definitions are edited,
// disabled, moved to another agent and removed; their sessions succeed,
// fail and partly succeed, with targets appearing and failing.
func TestFleetScansDrift(t *testing.T) {
	t.Parallel()
	f := NewFleet(1, 1000, start)
	before, after := f.DefinitionsAt(start), f.DefinitionsAt(start.Add(30*day))
	if !reflect.DeepEqual(before, NewFleet(1, 1000, start).DefinitionsAt(start)) {
		t.Fatal("same seed and time gave different definitions")
	}
	if len(before) < 120 {
		t.Fatalf("%d definitions for 1,000 agents; want about one in six", len(before))
	}
	was := map[string]Definition{}
	for _, d := range before {
		was[d.ID] = d
	}
	var edited, disabled, moved, removed, added int
	for _, d := range after {
		b, ok := was[d.ID]
		switch {
		case !ok:
			added++
			continue
		case b.ScannerAgent.ID != d.ScannerAgent.ID:
			moved++
		}
		if b.IntervalHours != d.IntervalHours || b.Target != d.Target || b.Name != d.Name {
			edited++
		}
		if b.IsActive && !d.IsActive {
			disabled++
		}
		delete(was, d.ID)
	}
	removed = len(was)
	for what, n := range map[string]int{"edited": edited, "disabled": disabled, "moved": moved, "removed": removed, "added": added} {
		if n == 0 {
			t.Errorf("no definition %s in a month", what)
		}
	}

	var ids []string
	for _, d := range after {
		ids = append(ids, d.ID)
	}
	sessions := f.SessionsAt(start.Add(30*day), ids)
	statuses := map[string]int{}
	failingTargets := 0
	for i, s := range sessions {
		statuses[s.Status]++
		if i > 0 && s.ScannedAt.After(sessions[i-1].ScannedAt) {
			t.Fatal("sessions are not newest first")
		}
		for _, tg := range s.Targets {
			if tg.Status == "Failure" && tg.ErrorMessage == "" {
				t.Fatal("a failed target without an error message")
			}
			if tg.Status == "Failure" {
				failingTargets++
			}
		}
		if s.ScannedAt.Before(start.Add(30*day - historyRetention)) {
			t.Fatal("a session older than the retention")
		}
	}
	for _, st := range []string{"Success", "Fail", "Partial Success"} {
		if statuses[st] == 0 {
			t.Errorf("no session %s among %v", st, statuses)
		}
	}
	if failingTargets == 0 {
		t.Error("no failing target")
	}
	s := sessions[len(sessions)/2]
	if got, ok := f.Session(start.Add(30*day), s.SessionID); !ok || !reflect.DeepEqual(got, s) {
		t.Errorf("Session(%s) = %+v, %v", s.SessionID, got, ok)
	}
	// A definition's latestScan is its newest session.
	for _, d := range after[:20] {
		runs := f.SessionsAt(start.Add(30*day), []string{d.ID})
		if len(runs) == 0 {
			if d.LatestScan != nil {
				t.Errorf("%s: latestScan without a session", d.ID)
			}
			continue
		}
		if d.LatestScan == nil || !d.LatestScan.ExecutedAt.Equal(runs[0].ScannedAt) {
			t.Errorf("%s: latestScan %+v, newest session at %v", d.ID, d.LatestScan, runs[0].ScannedAt)
		}
	}
}

func TestHistoryEndpointsRefuseBadRequests(t *testing.T) {
	t.Parallel()
	tenant := New(WithScans([]Definition{{ID: "d"}}, []Session{{DefinitionID: "d", SessionID: "s", ScannedAt: start}}))
	srv := httptest.NewServer(tenant.Handler())
	defer srv.Close()
	tok := tokenFor(t, srv.URL)
	post := func(path, contentType, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path, contentType, body string
		status                  int
	}{
		{HistoryByDefinitionPath + "?$top=5", "", `{"ScanDefinitionIds":["d"]}`, 415},
		{HistoryByDefinitionPath + "?$top=5", "application/json", `{"ScanDefinitionIds":"d"}`, 400},
		{HistoryByDefinitionPath + "?$top=10001", "application/json", `{"ScanDefinitionIds":["d"]}`, 400},
		{HistoryByDefinitionPath + "?$top=5&$skip=-1", "application/json", `{"ScanDefinitionIds":["d"]}`, 400},
		{HistoryByDefinitionPath + "?$top=5", "application/json; charset=utf-8", `{"scandefinitionids":["d"]}`, 200},
		{HistoryBySessionPath, "application/json", `{"SessionIds":["s","unknown"]}`, 200},
	} {
		status, body := post(tc.path, tc.contentType, tc.body)
		if status != tc.status {
			t.Errorf("POST %s %s: %d %s, want %d", tc.path, tc.body, status, body, tc.status)
		}
		if status == 200 && !strings.Contains(body, `"d"`) {
			t.Errorf("POST %s: %s", tc.path, body)
		}
	}
}

// tokenFor gets a token from the simulated tenant at base.
func tokenFor(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+TokenPath(DefaultTenantID), map[string][]string{
		"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"scope": {"https://api.securitycenter.microsoft.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %s %v", b, err)
	}
	return tok.AccessToken
}

func TestTimeOfDay(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		8*time.Minute + 30*time.Second:            "00:08:30",
		3*time.Second + 123456700*time.Nanosecond: "00:00:03.1234567",
		time.Hour + 500*time.Millisecond:          "01:00:00.5",
	} {
		if got := timeOfDay(d); got != want {
			t.Errorf("timeOfDay(%v) = %q, want %q", d, got, want)
		}
	}
}
