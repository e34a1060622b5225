package main

import (
	"strings"
	"testing"

	"github.com/agentsync/agentsync/extract/defendertest"
)

// TestNoDatabaseIsAConfigurationError: without DATABASE_URL or a PG*
// variable that locates a server, the commands that write to PostgreSQL
// stop with a hint instead of creating the schema wherever libpq's
// defaults point (as root: a database named root).
func TestNoDatabaseIsAConfigurationError(t *testing.T) {
	t.Parallel()
	tenant := defendertest.NewServer()
	t.Cleanup(tenant.Close)
	for _, args := range [][]string{{"migrate"}, {"migrate", "status"}, {"sync"}, {"run"}} {
		// Everything else is valid: only the database is missing.
		env := fetchEnv(tenant)
		env["PGPASSFILE"] = "/nonexistent/pgpass" // says how to log in, not where
		code, out, errOut := runCLI(t, env, args...)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, "set DATABASE_URL") || !strings.Contains(errOut, "for example DATABASE_URL=postgres://") {
			t.Errorf("%q without a database: exit %d, stdout %q, stderr %q; want %d and what to set", args, code, out, errOut, exitUsage)
		}
		if tenant.Stats().APIRequests+tenant.Stats().TokenRequests != 0 {
			t.Errorf("%q without a database called the API", args)
		}
	}
	// A PG* variable that locates the server is a choice: the command goes
	// on (here to the next configuration error, before any connection).
	for _, v := range libpqServerVariables {
		code, _, errOut := runCLI(t, map[string]string{v: "x"}, "sync", "--no-migrate")
		if code != exitUsage || strings.Contains(errOut, "no database") || !strings.Contains(errOut, "tenant id is required") {
			t.Errorf("sync with %s only: exit %d, stderr %q; want it to get past the database", v, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, nil, "sync", "--no-migrate", "--database-url", "postgres://127.0.0.1:1/x")
	if code != exitUsage || strings.Contains(errOut, "no database") {
		t.Errorf("sync --database-url: exit %d, stderr %q; want it to get past the database", code, errOut)
	}
}
