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
