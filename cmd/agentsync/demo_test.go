package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// demoTestDatabase returns a database name of the demo's family that no
// other test (and no user's demo) uses, dropped when the test ends.
func demoTestDatabase(t *testing.T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := demoDatabaseName + "_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dbtest.ServerURL())
		if err != nil {
			t.Logf("drop %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	return name
}

func TestDemoTellsTheStoryAndIsRerunnable(t *testing.T) {
	t.Parallel()
	name := demoTestDatabase(t)
	env := map[string]string{"DATABASE_URL": dbtest.ServerURL()}
	args := []string{"demo", "--agents", "150", "--days", "12", "--demo-database", name}
	for round := 1; round <= 2; round++ {
		code, out, errOut := runCLI(t, env, args...)
		if code != exitOK {
			t.Fatalf("round %d: demo exit %d\nstdout:\n%s\nstderr:\n%s", round, code, out, errOut)
		}
		for _, want := range []string{
			"FAILED*",
			"failed on purpose",
			"Version drift (defender.version_drift)",
			"Latest changes (defender.scan_agent_changes)",
			"Stale agents",
			"Scan coverage (defender.scan_coverage",
			"active scan definitions",
			"psql 'postgres://postgres@127.0.0.1:5432/" + name + "'",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("round %d: the demo's output lacks %q:\n%s", round, want, out)
			}
		}
		// Every round starts from an empty database: the second finds
		// exactly the runs of one demo, not two.
		cfg, err := pgx.ParseConfig(dbtest.ServerURL())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Database = name
		conn, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var succeeded, failed, changes int
		err = conn.QueryRow(context.Background(), `
			SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
			       (SELECT count(*) FROM defender.scan_agent_changes WHERE attribute <> 'agent')
			  FROM defender.sync_runs WHERE resource = 'agents'`).Scan(&succeeded, &failed, &changes)
		conn.Close(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if succeeded != 11 || failed != 1 {
			t.Errorf("round %d: %d succeeded and %d failed runs, want 11 and 1", round, succeeded, failed)
		}
		if changes == 0 {
			t.Errorf("round %d: the fleet drifted but the history shows no attribute change", round)
		}
	}
}

func TestDemoRefusesAnotherDatabaseName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"postgres", "prod", "agentsync", "agentsync_demo; DROP", "Agentsync_demo"} {
		code, _, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}, "demo", "--demo-database", name)
		if code != exitUsage || !strings.Contains(errOut, "--demo-database") {
			t.Errorf("--demo-database %q: exit %d, stderr %q; want %d", name, code, errOut, exitUsage)
		}
	}
}

func TestPsqlURLCarriesNoPassword(t *testing.T) {
	t.Parallel()
	cfg, err := pgconn.ParseConfig("postgres://demo:s3cret-pw@db.example:6543/agentsync_demo?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := psqlURL(cfg), "postgres://demo@db.example:6543/agentsync_demo"; got != want {
		t.Errorf("psqlURL = %q, want %q", got, want)
	}
	cfg.Host = "/var/run/postgresql"
	if got := psqlURL(cfg); strings.Contains(got, "s3cret") || !strings.Contains(got, "host=%2Fvar%2Frun%2Fpostgresql") {
		t.Errorf("psqlURL for a socket = %q", got)
	}
}

func TestDemoWithAnUnreachableServerSaysSoWithoutPassword(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://demo:hunter2-secret@127.0.0.1:1/postgres?connect_timeout=2"}, "demo", "--days", "1")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if strings.Contains(out+errOut, "hunter2-secret") {
		t.Fatalf("the demo shows the password: %s %s", out, errOut)
	}
}

func TestEmbeddedPostgresExplainsRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("runs as root only: as another user the embedded server would start")
	}
	_, err := startEmbeddedPostgres(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), demoDatabaseName)
	if !errors.Is(err, errEmbeddedAsRoot) {
		t.Fatalf("embedded PostgreSQL as root: %v, want the explanation", err)
	}
}

func TestRecreateDemoDatabaseRefusesOtherNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"postgres", "root", "agentsync", ""} {
		if _, err := recreateDemoDatabase(context.Background(), "postgres://127.0.0.1:1/postgres", name, "test"); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("recreateDemoDatabase(%q) = %v, want a refusal before connecting", name, err)
		}
	}
}
