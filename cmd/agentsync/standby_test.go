package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/internal/embeddedpg"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/migrations"
)

// documentedQueries are the SQL examples of the docs users read: each
// statement of every sql block.
func documentedQueries(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, file := range []string{"README.md", "docs/schema.md", "docs/postgresql.md"} {
		doc, err := os.ReadFile(filepath.Join("..", "..", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
			for _, stmt := range regexp.MustCompile(`;\s*\n`).Split(b[1]+"\n", -1) {
				if strings.TrimSpace(stmt) != "" {
					out = append(out, stmt)
				}
			}
		}
	}
	if len(out) < 24 {
		t.Fatalf("found %d documented queries", len(out))
	}
	return out
}

// TestReadersOnAHotStandby: a streaming hot standby of a primary (made
// with pg_basebackup, as read replicas are), where a member of
// defender_reader runs every documented query, agentsync report and
// agentsync status, and the owner runs migrate status: nothing writes.
func TestReadersOnAHotStandby(t *testing.T) {
	t.Parallel()
	bin, err := embeddedpg.FindBinaries()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx := context.Background()
	primary, err := embeddedpg.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primary.Stop() })
	admin, err := pgx.Connect(ctx, primary.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CREATE ROLE agentsync LOGIN PASSWORD 'owner-test' NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE ROLE defender_reader NOLOGIN",
		"CREATE ROLE analyst LOGIN PASSWORD 'analyst-test' IN ROLE defender_reader",
		"CREATE DATABASE agentsync",
		"GRANT CREATE ON DATABASE agentsync TO agentsync",
	} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	admin.Close(ctx)
	as := func(server *embeddedpg.Server, user, password string) string {
		u, err := url.Parse(server.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(user, password)
		u.Path = "/agentsync"
		return u.String()
	}
	adminDB, err := pgx.Connect(ctx, strings.Replace(primary.URL, "/postgres?", "/agentsync?", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminDB.Exec(ctx, "CREATE EXTENSION btree_gist"); err != nil {
		t.Fatal(err)
	}
	adminDB.Close(ctx)

	pool, err := pgxpool.New(ctx, as(primary, "agentsync", "owner-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if _, err := migrations.Up(ctx, db, nil); err != nil {
		t.Fatalf("migrate the primary: %v", err)
	}
	synced := loadtest.Sync(t, pool, loadtest.Story{Agents: 30, Days: 8, FailDay: 3})

	standby, err := primary.StartStandby()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.Stop() })
	reader, err := pgx.Connect(ctx, as(standby, "analyst", "analyst-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(ctx)
	var inRecovery bool
	if err := reader.QueryRow(ctx, `SELECT pg_catalog.pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("the standby is in recovery: %v, %v", inRecovery, err)
	}
	// It has what the primary had when it was made.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var runs int
		err := reader.QueryRow(ctx, `SELECT count(*) FROM defender.sync_runs`).Scan(&runs)
		if err == nil && runs == queryInt(t, pool, `SELECT count(*) FROM defender.sync_runs`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby has %d runs (%v)", runs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, q := range documentedQueries(t) {
		rows, err := reader.Query(ctx, q)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
		}
		if err != nil {
			t.Errorf("documented query on the standby as a reader: %v\n%s", err, q)
		}
	}

	readerEnv := map[string]string{"DATABASE_URL": as(standby, "analyst", "analyst-test")}
	out := filepath.Join(t.TempDir(), "report.html")
	if code, stdout, stderr := runCLI(t, readerEnv, "report", "--out", out, "--since", "30d"); code != exitOK {
		t.Fatalf("report on the standby as a reader: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), synced.TenantID) {
		t.Fatalf("the standby's report does not show the tenant (%v)", err)
	}
	if code, stdout, stderr := runCLI(t, readerEnv, "status"); code == exitUsage || !strings.Contains(stdout, synced.TenantID) {
		t.Errorf("status on the standby as a reader: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	ownerEnv := map[string]string{"DATABASE_URL": as(standby, "agentsync", "owner-test")}
	if code, stdout, stderr := runCLI(t, ownerEnv, "migrate", "status"); code != exitOK || strings.Contains(stdout, "pending") {
		t.Errorf("migrate status on the standby as the owner: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(t, readerEnv, "migrate", "status"); code != exitFailure || !strings.Contains(stderr, "migrating user") {
		t.Errorf("migrate status on the standby as a reader: exit %d, want %d saying it needs the migrating user\nstdout: %s\nstderr: %s", code, exitFailure, stdout, stderr)
	}
}
