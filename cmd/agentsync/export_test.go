package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync"
)

// TestExportWritesTheFilesAsTheReader: as a member of defender_reader,
// export writes the four files and a manifest whose row counts and
// SHA-256 match them; --tenant in any case keeps its rows alone.
func TestExportWritesTheFilesAsTheReader(t *testing.T) {
	t.Parallel()
	reader, tenant := readerDatabase(t)
	env := map[string]string{"DATABASE_URL": reader}
	dir := filepath.Join(t.TempDir(), "evidence")
	asOf := time.Now().UTC().Add(-2 * 24 * time.Hour)
	code, stdout, stderr := runCLI(t, env, "export", "--as-of", asOf.Format(time.RFC3339Nano), "--since", "5d",
		"--tenant", strings.ToUpper(tenant), "--out", dir)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "wrote "+dir+": fleet.csv (") {
		t.Fatalf("export: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		AgentsyncVersion string    `json:"agentsync_version"`
		AsOf             time.Time `json:"as_of"`
		Since            time.Time `json:"since"`
		Tenant           string    `json:"tenant"`
		Tenants          []struct {
			TenantID  string `json:"tenant_id"`
			AsOfRunID int64  `json:"as_of_run_id"`
		} `json:"tenants"`
		Files []struct {
			Name   string `json:"name"`
			Rows   int    `json:"rows"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
		ChainHeads map[string]map[string]struct {
			RunID  int64  `json:"run_id"`
			Digest string `json:"digest"`
		} `json:"chain_heads"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if m.AgentsyncVersion != semanticVersion(version, agentsync.Changelog) ||
		!m.AsOf.Equal(asOf) || !m.Since.Equal(asOf.Add(-5*24*time.Hour)) || m.Tenant != tenant ||
		len(m.Tenants) != 1 || m.Tenants[0].TenantID != tenant || m.Tenants[0].AsOfRunID == 0 ||
		len(m.ChainHeads) != 1 || m.ChainHeads[tenant]["agents"].RunID == 0 || len(m.ChainHeads[tenant]["agents"].Digest) != 64 ||
		len(m.Files) != 4 {
		t.Errorf("manifest.json:\n%s", raw)
	}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		records, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || hex.EncodeToString(sum[:]) != f.SHA256 || len(records) != f.Rows+1 {
			t.Errorf("%s: %d records (%v), SHA-256 %x; the manifest says %d rows, %s", f.Name, len(records), err, sum, f.Rows, f.SHA256)
		}
		if f.Name != "definition_changes.csv" && f.Rows == 0 {
			t.Errorf("%s: no row", f.Name)
		}
	}

	// The same directory again: refused, as not empty.
	code, stdout, stderr = runCLI(t, env, "export", "--as-of", "now", "--out", dir)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "export to "+dir+": the directory is not empty") ||
		!strings.Contains(stderr, `"changes.csv"`) || !strings.Contains(stderr, "a new or empty directory") {
		t.Errorf("export into a full directory: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// A tenant never synced: the tenants there are are listed.
	other := filepath.Join(t.TempDir(), "other")
	code, stdout, stderr = runCLI(t, env, "export", "--as-of", "now", "--tenant", "no-such-tenant.example", "--out", other)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "no sync of this tenant") || !strings.Contains(stderr, "known tenants: "+tenant) {
		t.Errorf("export of an unknown tenant: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("a failed export left %s: %v", other, err)
	}
}

// TestExportBadUsage: a time that does not read, a period that ends
// before it starts, or a missing flag is a usage error naming the flag,
// before any database is needed.
func TestExportBadUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--as-of", "yesterday", "--out", dir}, `--as-of "yesterday": want a time`},
		{[]string{"--as-of", "2026-13-01", "--out", dir}, `--as-of "2026-13-01": want a time`},
		{[]string{"--as-of", "2999-01-01", "--out", dir}, "--as-of 2999-01-01T00:00:00Z is in the future"},
		{[]string{"--as-of", "now", "--since", "last month", "--out", dir}, `--since "last month": want a duration back from --as-of`},
		{[]string{"--as-of", "2026-03-01", "--since", "2026-06-01", "--out", dir}, "--since 2026-06-01T00:00:00Z is not before --as-of 2026-03-01T00:00:00Z"},
		{[]string{"--as-of", "now", "--since", "now", "--out", dir}, "is not before --as-of"},
		{[]string{"--as-of", "now", "--out", " "}, `--out " ": want a directory`},
		{[]string{"--out", dir}, "--as-of"},
		{[]string{"--as-of", "now"}, "--out"},
	} {
		code, stdout, stderr := runCLI(t, map[string]string{}, append([]string{"export"}, tc.args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("export %q: exit %d, stdout %q, stderr %q; want exit %d saying %q", tc.args, code, stdout, stderr, exitUsage, tc.want)
		}
	}
}
