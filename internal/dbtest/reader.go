package dbtest

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ReaderRole logs in to the test databases as a member of
// defender_reader, the reporting role, and nothing else.
const ReaderRole = "agentsync_reader_test"

// TenantReaderRole logs in to the test databases as a member of
// defender_tenant_reader: it sees the tenants a test gives it with
// defender.grant_tenant_access, in that test's database only.
const TenantReaderRole = "agentsync_tenant_reader_test"

var rolesOnce = sync.OnceValue(func() error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The migrations grant defender_reader and defender_tenant_reader
	// their privileges when the roles exist; the test role may not create roles, as on many servers, so
	// the server's administrator makes it here, once per cluster. Parallel
	// test processes may race: the loser's duplicate is ignored.
	_, err = conn.Exec(ctx, `
		DO $$
		BEGIN
		    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_reader') THEN
		        CREATE ROLE defender_reader NOLOGIN;
		    END IF;
		    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '`+ReaderRole+`') THEN
		        CREATE ROLE `+ReaderRole+` LOGIN IN ROLE defender_reader;
		    END IF;
		    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'defender_tenant_reader') THEN
		        CREATE ROLE defender_tenant_reader NOLOGIN;
		    END IF;
		    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '`+TenantReaderRole+`') THEN
		        CREATE ROLE `+TenantReaderRole+` LOGIN IN ROLE defender_tenant_reader;
		    END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN
		    NULL;
		END;
		$$`)
	return err
})

// ensureRoles creates the reporting roles on the test server if missing.
func ensureRoles(t testing.TB) {
	t.Helper()
	if err := rolesOnce(); err != nil {
		t.Fatalf("create the reporting roles on the test server: %v", err)
	}
}

// ReaderPool connects to the database of url as ReaderRole, a member of
// defender_reader: what a BI tool or an analyst may do.
func ReaderPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	return poolAs(t, url, ReaderRole)
}

// TenantReaderPool connects to the database of url as TenantReaderRole, a
// member of defender_tenant_reader: what a customer's analyst may do. It
// sees the tenants granted to it in that database with
// defender.grant_tenant_access, and no other.
func TenantReaderPool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	return poolAs(t, url, TenantReaderRole)
}

// poolAs connects to the database of url as the login role user.
func poolAs(t testing.TB, url, user string) *pgxpool.Pool {
	t.Helper()
	u, err := parseURL(url)
	if err != nil {
		t.Fatalf("test database url: %v", err)
	}
	u.User = nil
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatalf("test database url: %v", err)
	}
	cfg.ConnConfig.User = user
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(pool.Close)
	return pool
}
