package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Admin runs statements on the test server as its administrator (the
// user of TEST_DATABASE_URL), for tests that need what a DBA sets up:
// roles, databases owned by someone else, extensions.
func Admin(t testing.TB, database string, statements ...string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(ServerURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	if database != "" {
		cfg.Database = database
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as the administrator: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("as the administrator: %s: %v", s, err)
		}
	}
}

// AdminDatabase creates an empty database owned by the administrator,
// and a login role named after it with none of SUPERUSER, CREATEDB and
// CREATEROLE, as a managed server gives an application; both are dropped
// when the test ends. It returns the database's name (also the role's)
// and a URL connecting to it as that role, with an empty search_path.
func AdminDatabase(t testing.TB) (name, url string) {
	t.Helper()
	ensureRoles(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = "agentsync_admin_" + hex.EncodeToString(b)
	id := pgx.Identifier{name}.Sanitize()
	Admin(t, "", "CREATE ROLE "+id+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", "CREATE DATABASE "+id)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept database %s (role %s) of the failed test", name, name)
			return
		}
		Admin(t, "", "DROP DATABASE "+id+" WITH (FORCE)", "DROP ROLE "+id)
	})
	u, err := parseURL(ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = nil
	u.Path = "/" + name
	q := u.Query()
	q.Set("user", name)
	u.RawQuery = q.Encode()
	return name, withEmptySearchPath(t, u.String())
}
