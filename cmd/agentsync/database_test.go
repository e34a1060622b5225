package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/logtest"
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
		if code != exitUsage || strings.Contains(errOut, "no database") || !strings.Contains(errOut, "no tenant: set DEFENDER_TENANT_ID") {
			t.Errorf("sync with %s only: exit %d, stderr %q; want it to get past the database", v, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, nil, "sync", "--no-migrate", "--database-url", "postgres://127.0.0.1:1/x")
	if code != exitUsage || strings.Contains(errOut, "no database") {
		t.Errorf("sync --database-url: exit %d, stderr %q; want it to get past the database", code, errOut)
	}
}

// TestDatabaseNoticesAreLogged: what the server says besides results, such
// as a migration's notice that the reporting role could not be created and
// the statements an administrator should run, reaches the log.
func TestDatabaseNoticesAreLogged(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	pool, err := openPool(t.Context(), dbtest.URL(t), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `DO $$ BEGIN
		RAISE NOTICE USING MESSAGE = 'agentsync: role defender_reader does not exist', HINT = 'CREATE ROLE defender_reader NOLOGIN';
	END $$`); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	if !strings.Contains(got, "database notice") || !strings.Contains(got, "role defender_reader does not exist") ||
		!strings.Contains(got, "hint=\"CREATE ROLE defender_reader NOLOGIN\"") {
		t.Fatalf("log = %q, want the notice and its hint", got)
	}
}
