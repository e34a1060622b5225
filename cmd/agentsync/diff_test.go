package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestDiffPrintsTheFunctionsRowsAsTheReader: each format prints the rows
// of defender.scan_agents_diff, as a member of defender_reader.
func TestDiffPrintsTheFunctionsRowsAsTheReader(t *testing.T) {
	t.Parallel()
	reader, tenant := readerDatabase(t)
	env := map[string]string{"DATABASE_URL": reader}
	pool, err := pgxpool.New(context.Background(), reader)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The history is the ten days before the current hour.
	from := time.Now().UTC().Add(-8 * 24 * time.Hour)
	var want int
	var kinds []string
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*), coalesce(array_agg(DISTINCT change), '{}') FROM defender.scan_agents_diff($1, now())`,
		from).Scan(&want, &kinds); err != nil {
		t.Fatal(err)
	}
	if want == 0 {
		t.Fatal("the history changed nothing in eight days: the test says little")
	}

	code, stdout, stderr := runCLI(t, env, "diff", "--from", from.Format(time.RFC3339Nano), "--tenant", strings.ToUpper(tenant), "--format", "csv")
	if code != exitOK || stderr != "" {
		t.Fatalf("diff --format csv: exit %d, stderr %q", code, stderr)
	}
	records, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not read back: %v", err)
	}
	if len(records) != want+1 || strings.Join(records[0][:4], ",") != "tenant_id,agent_id,change,changed_columns" || len(records[0]) != 20 {
		t.Fatalf("diff --format csv: %d records, header %q; want %d rows and the function's 20 columns", len(records), records[0], want)
	}
	for _, r := range records[1:] {
		if r[0] != tenant || r[17] == "" || r[19] == "" {
			t.Errorf("CSV row without its tenant or syncs: %q", r)
		}
	}

	code, stdout, stderr = runCLI(t, env, "diff", "--from", "8d", "--to", "now", "--format", "json")
	if code != exitOK || stderr != "" {
		t.Fatalf("diff --format json: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < want-5 || len(lines) > want+5 { // from moved on by the test's run time
		t.Errorf("diff --format json: %d lines, want about %d", len(lines), want)
	}
	var first struct {
		Change    string `json:"change"`
		ToRunID   *int64 `json:"to_run_id"`
		AgentID   string `json:"agent_id"`
		TenantID  string `json:"tenant_id"`
		FromRunID *int64 `json:"from_run_id"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.AgentID == "" || first.ToRunID == nil {
		t.Errorf("diff --format json: first line %q (%v)", lines[0], err)
	}

	code, stdout, stderr = runCLI(t, env, "diff", "--from", "8d")
	if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "TENANT") || !strings.Contains(stdout, kinds[0]) {
		t.Errorf("diff: exit %d, stderr %q, stdout starts %.200q", code, stderr, stdout)
	}

	code, stdout, stderr = runCLI(t, env, "diff", "--from", "8d", "--tenant", "no-such-tenant.example")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "no sync of this tenant") || !strings.Contains(stderr, tenant) {
		t.Errorf("diff of an unknown tenant: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestDiffBadTimes: a time that does not read, or from after to, is a
// usage error naming the flag, before any database is needed.
func TestDiffBadTimes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "yesterday"}, `--from "yesterday": want a time`},
		{[]string{"--from", "2026-03-01", "--to", "2026-13-01"}, `--to "2026-13-01": want a time`},
		{[]string{"--from", "2026-06-01", "--to", "2026-03-01T00:00:00Z"}, "--from 2026-06-01T00:00:00Z is after --to 2026-03-01T00:00:00Z"},
		{[]string{"--from", "1d", "--to", "2d"}, "is after --to"},
		{[]string{"--to", "now"}, "--from"},
		{[]string{"--from", "1d", "--format", "xml"}, "--format"},
	} {
		code, stdout, stderr := runCLI(t, map[string]string{}, append([]string{"diff"}, tc.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("diff %q: exit %d, stdout %q, stderr %q; want exit %d saying %q", tc.args, code, stdout, stderr, exitUsage, tc.want)
		}
	}
}
