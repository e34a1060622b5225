package report_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/report"
	"github.com/agentsync/agentsync/scanagent"
)

// exportStories are two tenants of a fortnight, with scan definitions,
// a failed sync and withheld deletions.
var exportStories = []loadtest.Story{
	{TenantID: "11111111-1111-4111-8111-111111111111", Name: "Contoso", Agents: 60, Days: 14, FailDay: 6, VanishDay: 9, Definitions: true},
	{TenantID: "fabrikam.example", Name: "Fabrikam", Agents: 30, Days: 14, Seed: 2, Definitions: true},
}

// isoUTC is how every time of an export reads.
var isoUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// readExport reads back an export: its manifest and each CSV file's
// records (header first), checking what every file must be: mode 0600,
// valid UTF-8, every line ended by CRLF, the row count and SHA-256 the
// manifest gives, and nothing else in the directory.
func readExport(t *testing.T, dir string) (report.ExportManifest, map[string][][]string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, report.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m report.ExportManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v\n%s", err, raw)
	}
	if !bytes.Contains(raw, []byte(`"chain_heads": {`)) {
		t.Errorf("manifest.json has no chain_heads object:\n%s", raw)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	want := []string{report.ChangesFile, report.DefinitionChangesFile, report.FleetFile, report.ManifestFile, report.RunsFile}
	if !slices.Equal(names, want) {
		t.Errorf("the directory holds %q, want %q", names, want)
	}
	files := map[string][][]string{}
	var listed []string
	for _, f := range m.Files {
		listed = append(listed, f.Name)
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Errorf("%s is not valid UTF-8", f.Name)
		}
		if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) {
			t.Errorf("%s: a line does not end with CRLF", f.Name)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: SHA-256 %x, the manifest says %s", f.Name, sum, f.SHA256)
		}
		r := csv.NewReader(bytes.NewReader(b))
		records, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s does not read back as CSV: %v", f.Name, err)
		}
		if len(records) != f.Rows+1 {
			t.Errorf("%s: %d records after the header, the manifest says %d", f.Name, len(records)-1, f.Rows)
		}
		files[f.Name] = records
	}
	if !slices.Equal(listed, []string{report.FleetFile, report.ChangesFile, report.DefinitionChangesFile, report.RunsFile}) {
		t.Errorf("the manifest lists %q", listed)
	}
	return m, files
}

// rowsOf renders a query's rows the way an export writes them, each
// value read into a Go type of its own: times as ISO 8601 UTC, NULL as
// "". Each row is joined by tabs, and the rows sorted.
func rowsOf(t *testing.T, pool *pgxpool.Pool, query string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fields := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
			case time.Time:
				fields[i] = v.UTC().Format(time.RFC3339Nano)
			case string:
				fields[i] = v
			default:
				fields[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(fields, "\t"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// recordsOf is a file's records after the header, as rowsOf renders rows.
func recordsOf(records [][]string) []string {
	var out []string
	for _, r := range records[1:] {
		out = append(out, strings.Join(r, "\t"))
	}
	slices.Sort(out)
	return out
}

// sameRows compares a file's rows with those a query returns.
func sameRows(t *testing.T, name string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Errorf("%s: the views have no row: the test says little", name)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, the views have %d", name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: row\n  %q\nthe views have\n  %q", name, got[i], want[i])
			return
		}
	}
}

// column is the index of a column in a header, failing the test when it
// is missing.
func column(t *testing.T, header []string, name string) int {
	t.Helper()
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("no column %s in %q", name, header)
	}
	return i
}

// TestExportMatchesTheViews: as a member of defender_reader, every file
// holds exactly the rows of its view over the period, read back with
// encoding/csv, and the manifest names the syncs scan_agents_as_of names
// and each file's row count and SHA-256.
func TestExportMatchesTheViews(t *testing.T) {
	t.Parallel()
	pool, synced := syncStories(t, exportStories...)
	// The period ends at day 11's sync and starts at day 5's: the bounds
	// are times of changes, those of day 5 out, those of day 11 in.
	asOf := synced[0].End.Add(-3 * 24 * time.Hour)
	since := asOf.Add(-6 * 24 * time.Hour)
	dir := filepath.Join(t.TempDir(), "evidence")
	got, err := report.Export(context.Background(), pool, dir, report.ExportOptions{AsOf: asOf, Since: since, Version: "0.1.0-test"})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the directory made: %v, %v; want mode 0700", info.Mode(), err)
	}
	m, files := readExport(t, dir)
	if m.FormatVersion != report.ExportFormatVersion || m.AgentsyncVersion != "0.1.0-test" || m.Tenant != nil ||
		!m.AsOf.Equal(asOf) || !m.Since.Equal(since) || m.GeneratedAt.Before(synced[0].End.Add(-time.Hour)) || len(m.ChainHeads) != 2 {
		t.Errorf("manifest %+v", m)
	}
	// The chain heads: per tenant and resource, the digest of the last
	// run at or before as_of, as defender.run_digests holds it.
	heads := rowsOf(t, pool, `
		SELECT r.tenant_id, r.resource, r.run_id::text, r.digest
		  FROM defender.run_digests r
		 WHERE r.fetched_at <= $1
		   AND NOT EXISTS (SELECT FROM defender.run_digests l WHERE l.tenant_id = r.tenant_id AND l.resource = r.resource
		                      AND l.run_id > r.run_id AND l.fetched_at <= $1)
`, asOf)
	var gotHeads []string
	for _, tenant := range []string{exportStories[0].TenantID, exportStories[1].TenantID} {
		for _, resource := range []string{"agents", "definitions"} {
			if h, ok := m.ChainHeads[tenant][resource]; ok {
				if h.FetchedAt.After(asOf) || len(h.Digest) != 64 || h.ComputedAtUpgrade {
					t.Errorf("chain head of %s %s: %+v", tenant, resource, h)
				}
				gotHeads = append(gotHeads, strings.Join([]string{tenant, resource, fmt.Sprint(h.RunID), h.Digest}, "\t"))
			}
		}
	}
	slices.Sort(gotHeads)
	if len(heads) != 4 || !slices.Equal(gotHeads, heads) {
		t.Errorf("chain heads %q, want %q", gotHeads, heads)
	}
	if !got.GeneratedAt.Equal(m.GeneratedAt) || len(got.Files) != len(m.Files) {
		t.Errorf("Export returned %+v, the file says %+v", got, m)
	}

	// The fleet, and the sync of each tenant it comes from.
	sameRows(t, report.FleetFile, recordsOf(files[report.FleetFile]), rowsOf(t, pool, `
		SELECT tenant_id, agent_id, machine_id, computer_dns_name, assigned_application_id,
		       scanner_software_version, mde_client_version, last_seen, last_command_execution_at,
		       extra::text, as_of_run_id, as_of_fetched_at
		  FROM defender.scan_agents_as_of($1)`, asOf))
	if h := files[report.FleetFile][0]; strings.Join(h, ",") != "tenant_id,agent_id,machine_id,computer_dns_name,assigned_application_id,"+
		"scanner_software_version,mde_client_version,last_seen,last_command_execution_at,extra,as_of_run_id,as_of_fetched_at" {
		t.Errorf("fleet.csv header %q", h)
	}
	wantTenants := rowsOf(t, pool, `
		SELECT tenant_id, as_of_run_id, as_of_fetched_at, count(*)
		  FROM defender.scan_agents_as_of($1) GROUP BY 1, 2, 3`, asOf)
	var gotTenants []string
	for _, tn := range m.Tenants {
		if tn.AsOfRunID == nil || tn.AsOfFetchedAt == nil {
			t.Fatalf("tenant %s: no sync in the manifest", tn.TenantID)
		}
		gotTenants = append(gotTenants, fmt.Sprintf("%s\t%d\t%s\t%d", tn.TenantID, *tn.AsOfRunID, tn.AsOfFetchedAt.UTC().Format(time.RFC3339Nano), tn.Agents))
	}
	sameRows(t, "manifest tenants", gotTenants, wantTenants)
	if len(m.Tenants) != 2 {
		t.Errorf("manifest tenants %+v, want both", m.Tenants)
	}
	// The failed day and the day the deletions were withheld are the
	// first story's days 6 and 9: the fleet three days before the end
	// comes from day 11's sync.
	if r := synced[0].Results[11]; *m.Tenants[0].AsOfRunID != r.RunID {
		t.Errorf("tenant %s: fleet from run %d, want day 11's %d", m.Tenants[0].TenantID, *m.Tenants[0].AsOfRunID, r.RunID)
	}

	// The changes of the period (since, as_of].
	sameRows(t, report.ChangesFile, recordsOf(files[report.ChangesFile]), rowsOf(t, pool, `
		SELECT tenant_id, agent_id, changed_at, attribute, old_value, new_value, run_id, previous_sync_at
		  FROM defender.scan_agent_changes WHERE changed_at > $1 AND changed_at <= $2`, since, asOf))
	sameRows(t, report.DefinitionChangesFile, recordsOf(files[report.DefinitionChangesFile]), rowsOf(t, pool, `
		SELECT tenant_id, definition_id, changed_at, attribute, old_value, new_value, run_id, previous_sync_at
		  FROM defender.scan_definition_changes WHERE changed_at > $1 AND changed_at <= $2`, since, asOf))
	var atSince, atAsOf int
	for _, r := range files[report.ChangesFile][1:] {
		switch r[2] {
		case since.Format(time.RFC3339Nano):
			atSince++
		case asOf.Format(time.RFC3339Nano):
			atAsOf++
		}
	}
	if atSince != 0 || atAsOf == 0 {
		t.Errorf("changes.csv: %d changes at since, %d at as_of; want none and some: the period is (since, as_of]", atSince, atAsOf)
	}
	var outside int
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*) FROM defender.scan_agent_changes WHERE changed_at <= $1 OR changed_at > $2`, since, asOf).Scan(&outside); err != nil || outside == 0 {
		t.Errorf("no change outside the period (%v): the test does not show the period bounds the file", err)
	}

	// The runs: every column of sync_runs, read here as JSON.
	runs := files[report.RunsFile]
	header := runs[0]
	jsonRuns, err := pool.Query(context.Background(), `
		SELECT to_jsonb(r) FROM defender.sync_runs r
		 WHERE coalesce(fetched_at, started_at) > $1 AND coalesce(fetched_at, started_at) <= $2
		    OR run_id IN (SELECT as_of_run_id FROM defender.scan_agents_as_of($2))`, since, asOf)
	if err != nil {
		t.Fatal(err)
	}
	wantRuns, err := pgx.CollectRows(jsonRuns, func(r pgx.CollectableRow) (string, error) {
		var raw []byte
		if err := r.Scan(&raw); err != nil {
			return "", err
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			return "", err
		}
		if len(obj) != len(header) {
			return "", fmt.Errorf("sync_runs has %d columns, runs.csv %d (%q)", len(obj), len(header), header)
		}
		fields := make([]string, len(header))
		for i, name := range header {
			v, ok := obj[name]
			if !ok {
				return "", fmt.Errorf("runs.csv column %s is not a column of sync_runs", name)
			}
			switch v := v.(type) {
			case nil:
			case string:
				fields[i] = v
				if at, err := time.Parse(time.RFC3339Nano, v); err == nil && strings.HasSuffix(name, "_at") {
					fields[i] = at.UTC().Format(time.RFC3339Nano)
				}
			default:
				fields[i] = fmt.Sprint(v)
			}
		}
		return strings.Join(fields, "\t"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(wantRuns)
	sameRows(t, report.RunsFile, recordsOf(runs), wantRuns)

	// Every run a file names is in runs.csv, and every time is ISO 8601
	// UTC.
	inRuns := map[string]bool{}
	for _, r := range runs[1:] {
		inRuns[r[column(t, header, "run_id")]] = true
	}
	for _, tn := range m.Tenants {
		if !inRuns[fmt.Sprint(*tn.AsOfRunID)] {
			t.Errorf("the fleet's run %d is not in runs.csv", *tn.AsOfRunID)
		}
	}
	for _, name := range []string{report.FleetFile, report.ChangesFile, report.DefinitionChangesFile, report.RunsFile} {
		records := files[name]
		for j, col := range records[0] {
			for _, r := range records[1:] {
				if strings.HasSuffix(col, "run_id") && r[j] != "" && !inRuns[r[j]] {
					t.Errorf("%s names run %s, not in runs.csv", name, r[j])
				}
				if (strings.HasSuffix(col, "_at") || strings.HasPrefix(col, "last_")) && r[j] != "" && !isoUTC.MatchString(r[j]) {
					t.Errorf("%s: %s %q is not ISO 8601 UTC", name, col, r[j])
				}
			}
		}
	}
	var statuses []string
	for _, r := range runs[1:] {
		statuses = append(statuses, r[column(t, header, "status")]+"/"+r[column(t, header, "resource")])
	}
	for _, want := range []string{"failed/agents", "succeeded/agents", "succeeded/definitions"} {
		if !slices.Contains(statuses, want) {
			t.Errorf("runs.csv has no %s run", want)
		}
	}
}

// TestExportOfAQuietPeriod: a period without a sync still exports the
// runs the fleet comes from, files of no rows are a header alone, and the
// manifest names the sync of a tenant whose fleet was empty, and none for
// a tenant not synced yet.
func TestExportOfAQuietPeriod(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	synced := loadtest.Sync(t, owner, exportStories[0])
	asOf := synced.End.Add(-2*24*time.Hour + 30*time.Minute)
	// A tenant synced after asOf only, and one whose listing was empty.
	loadtest.Sync(t, owner, loadtest.Story{TenantID: "late.example", Agents: 5, Days: 1})
	empty, err := load.New(owner, load.Config{TenantID: "empty.example", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return asOf.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	emptyRun, err := empty.Sync(context.Background(), func(context.Context, func(scanagent.Record) error) (scanagent.ListStats, error) {
		return scanagent.ListStats{Requests: 1, Pages: 1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pool := dbtest.ReaderPool(t, url)

	dir := t.TempDir()
	if _, err := report.Export(context.Background(), pool, dir, report.ExportOptions{AsOf: asOf, Since: asOf.Add(-10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	m, files := readExport(t, dir)
	for _, name := range []string{report.ChangesFile, report.DefinitionChangesFile} {
		if len(files[name]) != 1 || len(files[name][0]) != 8 {
			t.Errorf("%s: %q, want its header alone", name, files[name])
		}
	}
	var tenants []string
	for _, tn := range m.Tenants {
		run := "none"
		if tn.AsOfRunID != nil {
			run = fmt.Sprintf("%d at %s", *tn.AsOfRunID, tn.AsOfFetchedAt.Format(time.RFC3339))
		}
		tenants = append(tenants, fmt.Sprintf("%s: run %s, %d agents", tn.TenantID, run, tn.Agents))
	}
	day12 := synced.Results[12]
	want := []string{
		fmt.Sprintf("%s: run %d at %s, %d agents", synced.TenantID, day12.RunID, asOf.Add(-30*time.Minute).Format(time.RFC3339), len(files[report.FleetFile])-1),
		fmt.Sprintf("empty.example: run %d at %s, 0 agents", emptyRun.RunID, asOf.Add(-time.Hour).Format(time.RFC3339)),
		"late.example: run none, 0 agents",
	}
	if !slices.Equal(tenants, want) {
		t.Errorf("manifest tenants\n  %q\nwant\n  %q", tenants, want)
	}
	runs := files[report.RunsFile]
	var got []string
	for _, r := range runs[1:] {
		got = append(got, r[column(t, runs[0], "run_id")])
	}
	if wantRuns := []string{fmt.Sprint(day12.RunID), fmt.Sprint(emptyRun.RunID)}; !slices.Equal(got, wantRuns) {
		t.Errorf("runs.csv has runs %q, want the fleet's %q", got, wantRuns)
	}
}

// TestExportOfOneTenant: with a tenant (any case), every file holds its
// rows only, and the manifest names it.
func TestExportOfOneTenant(t *testing.T) {
	t.Parallel()
	pool, synced := syncStories(t, exportStories...)
	tenant := synced[1].TenantID
	dir := t.TempDir() // exists, empty
	if _, err := report.Export(context.Background(), pool, dir, report.ExportOptions{AsOf: synced[1].End, Tenant: strings.ToUpper(tenant)}); err != nil {
		t.Fatal(err)
	}
	m, files := readExport(t, dir)
	if m.Tenant == nil || *m.Tenant != tenant || len(m.Tenants) != 1 || m.Tenants[0].TenantID != tenant ||
		!m.Since.Equal(synced[1].End.Add(-report.DefaultExportPeriod)) {
		t.Errorf("manifest %+v, want tenant %s alone and the 30 days before as_of", m, tenant)
	}
	for name, records := range files {
		if len(records) < 2 {
			t.Errorf("%s: no row of the tenant", name)
		}
		i := column(t, records[0], "tenant_id")
		for _, r := range records[1:] {
			if r[i] != tenant {
				t.Errorf("%s: a row of tenant %s", name, r[i])
				break
			}
		}
	}
	var want int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM defender.scan_agents_as_of($1) WHERE tenant_id = $2`,
		synced[1].End, tenant).Scan(&want); err != nil || len(files[report.FleetFile])-1 != want || m.Tenants[0].Agents != want {
		t.Errorf("fleet.csv: %d rows, manifest %d agents; the tenant has %d (%v)", len(files[report.FleetFile])-1, m.Tenants[0].Agents, want, err)
	}
}

// TestExportRefuses: a tenant never synced (listing those that were) and
// a directory that holds a file are refused, writing nothing.
func TestExportRefuses(t *testing.T) {
	t.Parallel()
	pool, synced := syncStories(t, exportStories...)
	asOf := synced[0].End

	dir := filepath.Join(t.TempDir(), "evidence")
	_, err := report.Export(context.Background(), pool, dir, report.ExportOptions{AsOf: asOf, Tenant: "no-such-tenant.example"})
	var unknown *report.UnknownTenantError
	if !errors.As(err, &unknown) || !errors.Is(err, report.ErrUnknownTenant) ||
		!strings.Contains(err.Error(), synced[0].TenantID) || !strings.Contains(err.Error(), synced[1].TenantID) {
		t.Errorf("unknown tenant: %v; want an UnknownTenantError listing both tenants", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left its directory: %v", err)
	}

	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = report.Export(context.Background(), pool, full, report.ExportOptions{AsOf: asOf})
	if !errors.Is(err, report.ErrExportDirNotEmpty) || !strings.Contains(err.Error(), full) || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("a directory with a file: %v; want ErrExportDirNotEmpty naming it", err)
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("the refused directory now holds %d entries", len(entries))
	}

	file := filepath.Join(full, "notes.txt")
	if _, err := report.Export(context.Background(), pool, file, report.ExportOptions{AsOf: asOf}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the directory: %v", err)
	}
	if _, err := report.Export(context.Background(), pool, t.TempDir(), report.ExportOptions{AsOf: asOf, Since: asOf}); err == nil || !strings.Contains(err.Error(), "not before as-of") {
		t.Errorf("an empty period: %v", err)
	}
}

// failingDB fails the query that reads one view, after the files before
// it were written.
type failingDB struct {
	*pgxpool.Pool
	view string
}

func (d failingDB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	tx, err := d.Pool.BeginTx(ctx, opts)
	return failingTx{Tx: tx, view: d.view}, err
}

type failingTx struct {
	pgx.Tx
	view string
}

func (tx failingTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if strings.Contains(sql, tx.view) {
		return nil, errors.New("simulated failure")
	}
	return tx.Tx.Query(ctx, sql, args...)
}

// TestAFailedExportLeavesNothing: when a file cannot be read to its end,
// neither it nor those written before it stay, under any name.
func TestAFailedExportLeavesNothing(t *testing.T) {
	t.Parallel()
	pool, synced := syncStories(t, exportStories[1])
	for _, dir := range []string{filepath.Join(t.TempDir(), "new"), t.TempDir()} {
		_, err := report.Export(context.Background(), failingDB{Pool: pool, view: "defender.sync_runs\n"}, dir, report.ExportOptions{AsOf: synced[0].End})
		if err == nil || !strings.Contains(err.Error(), "export runs.csv: simulated failure") {
			t.Errorf("export: %v, want the runs' failure", err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			t.Errorf("a failed export left %d files in %s", len(entries), dir)
		}
	}
}

// TestExportIsTheSameInEveryExecMode: whether the connection describes,
// prepares or sends its statements as simple queries (as behind some
// poolers), and whatever the session's DateStyle, the files are the same
// bytes.
func TestExportIsTheSameInEveryExecMode(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	synced := loadtest.Sync(t, owner, exportStories[1])
	var first []report.ExportFile
	for _, mode := range []string{"cache_describe", "simple_protocol", "exec", "cache_statement"} {
		pool, err := pgxpool.New(context.Background(), url+"&DateStyle=SQL,%20DMY&TimeZone=Asia/Kolkata&default_query_exec_mode="+mode)
		if err != nil {
			t.Fatal(err)
		}
		m, err := report.Export(context.Background(), pool, filepath.Join(t.TempDir(), mode), report.ExportOptions{AsOf: synced.End})
		pool.Close()
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if first == nil {
			first = m.Files
		} else if !slices.Equal(m.Files, first) {
			t.Errorf("%s: files %+v, want those of cache_describe %+v", mode, m.Files, first)
		}
	}
}
