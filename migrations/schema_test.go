package migrations_test

import (
	"bytes"
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// schemaFile holds the whole current schema, as pg_dump prints it after
// every migration. Regenerate it with
//
//	UPDATE_SCHEMA=1 go test ./migrations -run TestSchemaFileIsCurrent
const schemaFile = "schema.sql"

// TestSchemaFileIsCurrent migrates an empty database and fails when its dump
// differs from schema.sql: a migration and the file that shows its result
// change together.
func TestSchemaFileIsCurrent(t *testing.T) {
	t.Parallel()
	got := dumpSchema(t, dbtest.URL(t))
	if os.Getenv("UPDATE_SCHEMA") != "" {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("read %s: %v (UPDATE_SCHEMA=1 go test ./migrations -run TestSchemaFileIsCurrent writes it)", schemaFile, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("migrations/%s is not the schema the migrations make; regenerate it with UPDATE_SCHEMA=1 go test ./migrations -run TestSchemaFileIsCurrent and commit it. First difference:\n%s",
			schemaFile, dbtest.FirstDifference(string(want), string(got)))
	}
}

// TestSchemaFileDefinesEachObjectOnce checks the point of the file: a view or
// a function reads in one place.
func TestSchemaFileDefinesEachObjectOnce(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range createStatement.FindAllSubmatch(text, -1) {
		seen[string(m[1])+" "+string(m[2])]++
	}
	if len(seen) == 0 {
		t.Fatalf("%s defines nothing", schemaFile)
	}
	for name, n := range seen {
		if n > 1 && !strings.HasPrefix(name, "FUNCTION") {
			t.Errorf("%s defines %s %d times", schemaFile, name, n)
		}
	}
}

// createStatement matches the head of a CREATE statement in a dump: the
// kind of object and its qualified name (functions may be overloaded, so
// their argument lists make them distinct; they are counted by name only).
var createStatement = regexp.MustCompile(`(?m)^CREATE (?:OR REPLACE )?(TABLE|VIEW|MATERIALIZED VIEW|FUNCTION|TYPE|SEQUENCE|INDEX|UNIQUE INDEX) ([a-z_0-9."]+)`)

// dumpSchema returns the schema of the database at url, as pg_dump
// --schema-only prints it, without what depends on the server's version
// or on the dump itself: the version comments and the \restrict key that
// pg_dump 15.14 and later write.
func dumpSchema(t *testing.T, url string) []byte {
	t.Helper()
	pgDump := pgDumpFor(t, url)
	cmd := exec.CommandContext(context.Background(), pgDump, "--schema-only", "--no-owner", "--dbname", libpqURL(t, url))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, `\restrict `), strings.HasPrefix(line, `\unrestrict `),
			strings.HasPrefix(line, "-- Dumped from database version"), strings.HasPrefix(line, "-- Dumped by pg_dump version"):
			continue
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// libpqURL returns url with only the parameters libpq knows: pgx takes
// run-time settings such as search_path as URL parameters, pg_dump does not.
func libpqURL(t *testing.T, raw string) string {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := neturl.Values{}
	if mode := u.Query().Get("sslmode"); mode != "" {
		q.Set("sslmode", mode)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// pgDumpFor returns the pg_dump of the server's major version where Debian
// installs it, else the one on PATH.
func pgDumpFor(t *testing.T, url string) string {
	t.Helper()
	db := openURL(t, url)
	var major int
	if err := db.QueryRow("SELECT current_setting('server_version_num')::int / 10000").Scan(&major); err != nil {
		t.Fatal(err)
	}
	if p := filepath.Join("/usr/lib/postgresql", fmt.Sprint(major), "bin", "pg_dump"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatalf("no pg_dump for PostgreSQL %d: install the server's client programs", major)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
