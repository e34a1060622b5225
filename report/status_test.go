package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/agentsync/agentsync/report"
)

// TestTenantStatusesAsTheReader: the status of each stored tenant reads as
// defender_reader; judged as configured, the story's tenant is fine just
// after its last sync and overdue two periods later; a configured tenant
// never synced gets a row of its own, and a stored one no longer
// configured does not count.
func TestTenantStatusesAsTheReader(t *testing.T) {
	t.Parallel()
	pool, synced := setup(t)
	statuses, err := report.ReadTenantStatuses(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 1 {
		t.Fatalf("%d statuses, want the story's tenant", len(statuses))
	}
	s := statuses[0]
	if s.Tenant != synced.TenantID || s.Name != story.Name || s.LatestStatus != "succeeded" || s.LastSuccessAt == nil ||
		s.LastFailureAt == nil || s.ActiveAgents == 0 {
		t.Fatalf("status %+v", s)
	}

	day := 24 * time.Hour
	fine := report.JudgeStatuses(append([]report.TenantStatus(nil), statuses...), []string{synced.TenantID}, synced.End.Add(time.Hour), day)
	if len(fine) != 1 || fine[0].Problem != "" || !fine[0].Configured {
		t.Errorf("an hour after a good sync: %+v, want no problem", fine)
	}
	late := report.JudgeStatuses(append([]report.TenantStatus(nil), statuses...), nil, synced.End.Add(3*day), day)
	if len(late) != 1 || !strings.Contains(late[0].Problem, "more than two schedule periods") {
		t.Errorf("three periods after the last sync: %+v, want it overdue", late)
	}
	other := "fabrikam.onmicrosoft.com"
	judged := report.JudgeStatuses(append([]report.TenantStatus(nil), statuses...), []string{other}, synced.End, day)
	if len(judged) != 2 || judged[0].Configured || judged[0].Problem != "" || judged[1].Tenant != other || judged[1].Problem != "never synced" {
		t.Errorf("with another tenant configured: %+v", judged)
	}
	var table bytes.Buffer
	if err := report.WriteStatusTable(&table, judged, synced.End); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TENANT", story.Name, "not configured (data kept)", other, "never synced"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the status table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestStatusTableShowsControlCharactersVisibly: a tenant name from a
// tenants file (or anything stored) with terminal escape sequences, an
// OSC 8 link or a C1 control is printed with them escaped, not acted on.
func TestStatusTableShowsControlCharactersVisibly(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := report.WriteStatusTable(&b, []report.TenantStatus{{Tenant: "contoso.com\x1b[2J", Name: "North\x1b[2J\x1b]8;;https://evil.example\x07wind\u009b", Configured: true}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsFunc(out, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
		t.Errorf("status prints control characters raw: %q", out)
	}
	if !strings.Contains(out, `North\x1b[2J\x1b]8;;https://evil.example\x07wind\u009b`) || !strings.Contains(out, `contoso.com\x1b[2J`) {
		t.Errorf("status does not show the name escaped: %q", out)
	}
}

// TestStatusTableAndJSONTellTheSameAge: at one moment, the AGE column of
// the table and last_success_age of the JSON say the same, to the second.
func TestStatusTableAndJSONTellTheSameAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 15, 12, 0, 36, 0, time.UTC)
	for _, ago := range []time.Duration{36 * time.Second, 90 * time.Second, 2*time.Hour + 29*time.Second} {
		at := now.Add(-ago)
		run := int64(7)
		statuses := report.JudgeStatuses([]report.TenantStatus{{Tenant: "contoso.com", LatestStatus: "succeeded", LastSuccessRunID: &run, LastSuccessAt: &at}}, nil, now, time.Hour)
		var js map[string]any
		b, err := json.Marshal(statuses[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &js); err != nil {
			t.Fatal(err)
		}
		var table strings.Builder
		if err := report.WriteStatusTable(&table, statuses, now); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(table.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("table:\n%s", table.String())
		}
		// TENANT NAME DATE TIME AGE ...
		age := strings.Fields(lines[1])[4]
		if age != js["last_success_age"] || age != ago.String() {
			t.Errorf("%s ago: the table says %s, the JSON %v", ago, age, js["last_success_age"])
		}
	}
}
