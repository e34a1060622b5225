package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/report"
)

// TestStatusTellsEachTenantsSyncsAndExitsForMonitoring: a good sync is ok
// (exit 0); a failed latest sync, or a configured tenant never synced,
// makes status exit 1 with the reason; a stored tenant no longer
// configured is shown, its data kept, and does not count.
func TestStatusTellsEachTenantsSyncsAndExitsForMonitoring(t *testing.T) {
	t.Parallel()
	s := setupDaemon(t)
	id := defendertest.DefaultTenantID
	names := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(names, []byte("tenants:\n  - id: "+id+"\n    name: Contoso Ltd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": s.env["DATABASE_URL"], "DEFENDER_TENANT_ID": id}
	syncEnv := withEnv(s.env, map[string]string{"DEFENDER_TENANTS_FILE": names, "DEFENDER_TENANT_ID": ""})
	if code, _, errOut := runCLI(t, syncEnv, "sync"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(t, env, "status")
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "Contoso Ltd") || !strings.Contains(out, " ok") {
		t.Fatalf("status after a good sync: exit %d\n%s\n%s", code, out, errOut)
	}

	// The latest sync fails: exit 1, saying why, with the error.
	s.tenant.Inject(defendertest.Status(403))
	if code, _, _ := runCLI(t, s.env, "sync"); code != exitFailure {
		t.Fatalf("the sync refused with 403 did not fail")
	}
	code, out, _ = runCLI(t, env, "status", "--json")
	if code != exitFailure {
		t.Fatalf("status after a failed sync: exit %d, want 1\n%s", code, out)
	}
	var row report.TenantStatus
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &row); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if row.Tenant != id || row.Name != "Contoso Ltd" || row.LatestStatus != "failed" || row.LastSuccessAt == nil ||
		!strings.Contains(row.LastFailureError, "403") || !strings.Contains(row.Problem, "failed") || row.ActiveAgents == 0 {
		t.Fatalf("status --json = %+v", row)
	}

	// A configured tenant never synced is a problem; a stored tenant no
	// longer configured is shown but does not count.
	other := "fabrikam.onmicrosoft.com"
	code, out, _ = runCLI(t, withEnv(env, map[string]string{"DEFENDER_TENANT_ID": other}), "status")
	if code != exitFailure || !strings.Contains(out, other) || !strings.Contains(out, "never synced") ||
		!strings.Contains(out, "not configured (data kept)") {
		t.Fatalf("status with another tenant configured: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, withEnv(env, map[string]string{"SYNC_SCHEDULE": "every hour"}), "status"); code != exitUsage || !strings.Contains(errOut, "every hour") {
		t.Fatalf("status with a bad schedule: exit %d, %s", code, errOut)
	}

}

// withEnv returns a copy of base with the values of over; an empty value
// removes the key.
func withEnv(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
