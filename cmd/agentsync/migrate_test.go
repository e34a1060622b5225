package main

import (
	"bytes"
	"context"
	"database/sql"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/migrations"
)

// runCLI runs agentsync in-process with args and env, returning its exit
// status and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut, func(k string) string { return env[k] })
	code = a.main(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestMigrateUpStatusDown(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.EmptyURL(t)}

	code, out, errOut := runCLI(t, env, "migrate", "status")
	if code != exitOK || !strings.Contains(out, "pending") {
		t.Fatalf("status on empty database: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut = runCLI(t, env, "migrate"); code != exitOK || !strings.Contains(out, "schema version") {
		t.Fatalf("migrate (up by default): code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "migrate", "status")
	if code != exitOK || strings.Contains(out, "pending") || !strings.Contains(out, "00001_defender_schema.sql") {
		t.Fatalf("status after up: code %d, stdout %q", code, out)
	}
	if code, out, errOut = runCLI(t, env, "migrate", "down"); code != exitOK || !strings.Contains(out, "rolled back") {
		t.Fatalf("migrate down: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, env, "migrate", "sideways"); code != exitUsage || !strings.Contains(errOut, "sideways") {
		t.Fatalf("bad direction: code %d, stderr %q", code, errOut)
	}
}

func TestConcurrentMigrateUpBothSucceed(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyURL(t)
	env := map[string]string{"DATABASE_URL": url}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	stderrs := make([]string, 2)
	for i := range codes {
		wg.Go(func() { codes[i], _, stderrs[i] = runCLI(t, env, "migrate", "up") })
	}
	wg.Wait()
	for i, c := range codes {
		if c != exitOK {
			t.Errorf("migrate up #%d: exit %d, stderr %s", i, c, stderrs[i])
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Each migration is recorded once, and the schema is at the latest one.
	want, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var applied, distinct int
	err = db.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM `+migrations.VersionTable+` WHERE version_id > 0`).Scan(&applied, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied != len(want) {
		t.Fatalf("goose records %d applied migrations (%d distinct), want each of the %d exactly once", applied, distinct, len(want))
	}
}

func TestBadDatabaseURLNeverEchoesPassword(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://user:hunter2secret@host:notaport/db"}, "migrate")
	if code == exitOK {
		t.Fatal("migrate with a malformed DATABASE_URL succeeded")
	}
	if strings.Contains(out+errOut, "hunter2secret") {
		t.Fatalf("output shows the password: %q %q", out, errOut)
	}
}

// TestMigrateStatusAsAReaderSaysItNeedsTheOwner: a member of
// defender_reader may not read goose's record; migrate status says who may.
func TestMigrateStatusAsAReaderSaysItNeedsTheOwner(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(dbtest.ReaderRole)
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": u.String()}, "migrate", "status")
	if code != exitFailure || !strings.Contains(errOut, "migrating user") || !strings.Contains(errOut, dbtest.ReaderRole) {
		t.Fatalf("migrate status as a reader: exit %d, stdout %q, stderr %q; want 1 saying it needs the migrating user", code, out, errOut)
	}
}

// TestMigrateGrantsGivesBothStepsInOrder: the owner may not create roles
// and a separate administrator may; the reporting role has none of its
// privileges. migrate grants prints the two steps whole; the administrator
// runs the first (and could not run the grants themselves), the owner the
// second, and the reader then reads.
func TestMigrateGrantsGivesBothStepsInOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name, ownerURL := dbtest.AdminDatabase(t)
	admin := name + "_dba"
	dbtest.Admin(t, name,
		"GRANT CREATE ON DATABASE "+name+" TO "+name,
		"CREATE EXTENSION btree_gist WITH SCHEMA public",
		"CREATE ROLE "+admin+" LOGIN CREATEROLE NOSUPERUSER")
	t.Cleanup(func() { dbtest.Admin(t, "", "DROP ROLE IF EXISTS "+admin) })
	env := map[string]string{"DATABASE_URL": ownerURL}
	if code, out, errOut := runCLI(t, env, "migrate", "up"); code != exitOK {
		t.Fatalf("migrate up as an owner without CREATEROLE: exit %d\n%s\n%s", code, out, errOut)
	}
	connect := func(user string) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(ownerURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User = user
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		return conn
	}
	owner, dba, reader := connect(name), connect(admin), connect(dbtest.ReaderRole)
	// As after a migration while the role did not exist yet.
	for _, s := range []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA defender FROM defender_reader",
		"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA defender FROM defender_reader",
		"REVOKE ALL ON SCHEMA defender FROM defender_reader",
	} {
		if _, err := owner.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	const read = `SELECT count(*) FROM defender.scan_agents`
	if _, err := reader.Exec(ctx, read); err == nil {
		t.Fatal("the reader reads before the grants")
	}

	code, script, errOut := runCLI(t, env, "migrate", "grants")
	if code != exitOK {
		t.Fatalf("migrate grants: exit %d\n%s", code, errOut)
	}
	step1, step2, ok := strings.Cut(script, "-- Step 2")
	step2 = "-- Step 2" + step2
	if !ok || !strings.Contains(step1, "CREATE ROLE defender_reader NOLOGIN") || !strings.Contains(step1, "CREATE ROLE defender_tenant_reader NOLOGIN") ||
		!strings.Contains(step2, "defender.grant_reader_access()") ||
		!strings.Contains(step2, name) || strings.Contains(script, "truncated") {
		t.Fatalf("migrate grants printed:\n%s\nwant the administrator's CREATE ROLE, then the owner (%s) calling grant_reader_access()", script, name)
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
	// The grants themselves are the owner's to give.
	if _, err := dba.Exec(ctx, `GRANT SELECT ON defender.scan_agents TO defender_reader`); err == nil {
		t.Fatal("an administrator who does not own the objects granted on them: the test proves nothing")
	}
	if _, err := dba.Exec(ctx, sqlOf(step1)); err != nil {
		t.Fatalf("step 1 as the administrator: %v\n%s", err, step1)
	}
	if _, err := owner.Exec(ctx, sqlOf(step2)); err != nil {
		t.Fatalf("step 2 as the owner: %v\n%s", err, step2)
	}
	if _, err := reader.Exec(ctx, read); err != nil {
		t.Fatalf("the reader after both steps: %v", err)
	}
}
