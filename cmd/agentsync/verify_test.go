package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
)

// TestVerifyAsTheOwner: verify prints a line per chain and exits 0 on an
// untouched history; after an edit of one row it names the run and exits
// 1; a reader is told to run it as the owner; a bad format is a usage
// error.
func TestVerifyAsTheOwner(t *testing.T) {
	t.Parallel()
	owner := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	synced := loadtest.Sync(t, pool, loadtest.Story{Agents: 40, Days: 10, FailDay: 4, VanishDay: 6, Definitions: true})
	env := map[string]string{"DATABASE_URL": owner}

	var runs int
	var head string
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*), (array_agg(digest ORDER BY run_id DESC))[1] FROM defender.run_digests WHERE resource = 'agents'`).Scan(&runs, &head); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, env, "verify", "--tenant", strings.ToUpper(synced.TenantID))
	want := fmt.Sprintf("%s agents: %d runs verified, chain head %s", synced.TenantID, runs, head)
	if code != exitOK || !strings.Contains(stdout, want) || !strings.Contains(stdout, "verified: ") {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}

	var run int64
	if err := pool.QueryRow(context.Background(), `
		UPDATE defender_storage.observation SET last_seen[1] = last_seen[1] + interval '1 minute'
		 WHERE run_id = (SELECT run_id FROM defender_storage.observation ORDER BY run_id OFFSET 2 LIMIT 1) RETURNING run_id`).Scan(&run); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCLI(t, env, "verify", "--format", "json")
	var got struct {
		Verified bool `json:"verified"`
		Chains   []struct {
			Resource string `json:"resource"`
			Runs     int    `json:"runs_verified"`
			Mismatch *struct {
				RunID int64    `json:"run_id"`
				Parts []string `json:"parts"`
			} `json:"mismatch"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("verify --format json: %v\n%s", err, stdout)
	}
	if code != exitFailure || got.Verified || len(got.Chains) == 0 || got.Chains[0].Resource != "agents" ||
		got.Chains[0].Mismatch == nil || got.Chains[0].Mismatch.RunID != run ||
		len(got.Chains[0].Mismatch.Parts) != 1 || !strings.HasPrefix(got.Chains[0].Mismatch.Parts[0], "its observations") {
		t.Fatalf("verify after an edit: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, env, "verify")
	if code != exitFailure || !strings.Contains(stdout, fmt.Sprintf("run %d, fetched", run)) || !strings.Contains(stdout, "NOT verified") {
		t.Errorf("verify after an edit: exit %d\n%s", code, stdout)
	}

	u, err := url.Parse(owner)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(dbtest.ReaderRole)
	code, _, stderr = runCLI(t, map[string]string{"DATABASE_URL": u.String()}, "verify")
	if code != exitFailure || !strings.Contains(stderr, "run it as the owner of schema defender") {
		t.Errorf("verify as a reader: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, env, "verify", "--format", "yaml"); code != exitUsage {
		t.Errorf("verify --format yaml: exit %d, want %d", code, exitUsage)
	}
}
