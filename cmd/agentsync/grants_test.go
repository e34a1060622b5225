package main

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/embeddedpg"
)

// TestReaderRoleMissingTwoStepsWhole: on a server of its own where
// defender_reader does not exist, an owner without CREATEROLE migrates;
// the logged notice names both steps whole, in order; migrate grants
// prints them; a separate administrator (CREATEROLE, no superuser) runs
// the first, the owner the second, and a reader's login then reads.
func TestReaderRoleMissingTwoStepsWhole(t *testing.T) {
	t.Parallel()
	bin, err := embeddedpg.FindBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx := context.Background()
	server, err := embeddedpg.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Stop() })
	as := func(user, password, database string) string {
		u, err := url.Parse(server.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(user, password)
		u.Path = "/" + database
		return u.String()
	}
	exec := func(connURL string, statements ...string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, connURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		for _, s := range statements {
			if _, err := conn.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
	exec(server.URL,
		"CREATE ROLE agentsync LOGIN PASSWORD 'owner-test' NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE ROLE dba LOGIN PASSWORD 'dba-test' CREATEROLE NOSUPERUSER",
		"CREATE DATABASE agentsync",
		"GRANT CREATE ON DATABASE agentsync TO agentsync")
	superuser, _ := url.Parse(server.URL)
	pw, _ := superuser.User.Password()
	exec(as("postgres", pw, "agentsync"), "CREATE EXTENSION btree_gist")

	owner := map[string]string{"DATABASE_URL": as("agentsync", "owner-test", "agentsync"), "LOG_FORMAT": "text"}
	code, _, logs := runCLI(t, owner, "migrate", "up")
	if code != exitOK {
		t.Fatalf("migrate up as an owner without CREATEROLE: exit %d\n%s", code, logs)
	}
	create, grant := strings.Index(logs, "CREATE ROLE defender_reader NOLOGIN"), strings.Index(logs, "SELECT defender.grant_reader_access()")
	if create < 0 || grant < create || strings.Contains(logs, "truncated") || !strings.Contains(logs, "migrate grants") {
		t.Fatalf("the notice does not give both steps whole and in order:\n%s", logs)
	}

	code, script, errOut := runCLI(t, owner, "migrate", "grants")
	if code != exitOK {
		t.Fatalf("migrate grants: exit %d\n%s", code, errOut)
	}
	step1, step2, ok := strings.Cut(script, "-- Step 2")
	if !ok || strings.Contains(step1, "exists already") {
		t.Fatalf("migrate grants printed:\n%s", script)
	}
	sqlOf := func(text string) string {
		var b strings.Builder
		for line := range strings.Lines(text) {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				b.WriteString(line)
			}
		}
		return b.String()
	}
	exec(as("dba", "dba-test", "agentsync"), sqlOf(step1), "CREATE ROLE analyst LOGIN PASSWORD 'analyst-test' IN ROLE defender_reader")
	exec(as("agentsync", "owner-test", "agentsync"), sqlOf("-- Step 2"+step2))
	exec(as("analyst", "analyst-test", "agentsync"), "SELECT count(*) FROM defender.scan_agents", "SELECT count(*) FROM defender.sync_runs")
}
