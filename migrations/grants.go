package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ReaderRole is the reporting role the migrations grant what readers may
// read.
const ReaderRole = "defender_reader"

// TenantReaderRole holds the same privileges as ReaderRole for the roles
// given tenants with defender.grant_tenant_access, which see only the rows
// of their tenants.
const TenantReaderRole = "defender_tenant_reader"

// ReaderGrants is what it takes to give the reporting role its
// privileges when the migrating user may not create roles: two steps by
// two users, in this order.
type ReaderGrants struct {
	// Owner owns the schema defender (the migrating user); Database is
	// where it lives.
	Owner, Database string
	// RoleExists reports that ReaderRole and TenantReaderRole exist
	// already (step 1 is done).
	RoleExists bool
	// OwnerMayCreateRoles reports that the owner has CREATEROLE (or is a
	// superuser): the migrations then create the role themselves.
	OwnerMayCreateRoles bool
}

// LookUpReaderGrants reads what ReaderGrants describes: the owner of the
// schema defender (the current user before the first migration).
func LookUpReaderGrants(ctx context.Context, db *sql.DB) (ReaderGrants, error) {
	var g ReaderGrants
	err := db.QueryRowContext(ctx, `
		SELECT coalesce((SELECT nspowner::pg_catalog.regrole::text FROM pg_catalog.pg_namespace WHERE nspname = 'defender'),
		                pg_catalog.quote_ident(current_user::text)),
		       current_database()::text,
		       (SELECT count(*) = 2 FROM pg_catalog.pg_roles WHERE rolname IN ($1, $2)),
		       (SELECT rolcreaterole OR rolsuper FROM pg_catalog.pg_roles
		         WHERE oid = coalesce((SELECT nspowner FROM pg_catalog.pg_namespace WHERE nspname = 'defender'),
		                              (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)))`,
		ReaderRole, TenantReaderRole).Scan(&g.Owner, &g.Database, &g.RoleExists, &g.OwnerMayCreateRoles)
	if err != nil {
		return ReaderGrants{}, fmt.Errorf("look up the owner of schema defender: %w", err)
	}
	return g, nil
}

// AdministratorSQL is step 1: the statement an administrator allowed to
// create roles runs, once per PostgreSQL cluster. It creates the roles
// that do not exist.
const AdministratorSQL = `DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '` + ReaderRole + `') THEN
        CREATE ROLE ` + ReaderRole + ` NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '` + TenantReaderRole + `') THEN
        CREATE ROLE ` + TenantReaderRole + ` NOLOGIN;
    END IF;
END
$$;`

// OwnerSQL is step 2: the statement the owner of the schema defender runs
// once the role exists. Only the owner may grant on its objects; an
// administrator who does not own them gets "permission denied".
const OwnerSQL = `SELECT defender.grant_reader_access();`

// Script is both steps as one SQL text, with comments saying who runs
// which, where, and in which order.
func (g ReaderGrants) Script() string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- The reporting roles %s and %s, in two steps, in this order.\n", ReaderRole, TenantReaderRole)
	if g.OwnerMayCreateRoles {
		fmt.Fprintf(&b, "-- %s may create roles: agentsync migrate does both steps itself.\n", g.Owner)
	}
	b.WriteString("--\n-- Step 1, as an administrator allowed to create roles (CREATEROLE), once per\n-- PostgreSQL cluster (roles belong to the cluster, not to one database):\n")
	if g.RoleExists {
		fmt.Fprintf(&b, "-- (%s and %s exist already: this step is done.)\n", ReaderRole, TenantReaderRole)
	}
	b.WriteString(AdministratorSQL + "\n")
	fmt.Fprintf(&b, "-- Then give %s to the login of each BI tool or analyst that sees every tenant,\n-- for example:\n--   GRANT %s TO grafana;\n", ReaderRole, ReaderRole)
	fmt.Fprintf(&b, "-- A customer's login sees only its tenants: the owner runs (step 2 first)\n--   SELECT defender.grant_tenant_access('contoso_grafana', 'contoso.onmicrosoft.com');\n")
	fmt.Fprintf(&b, "-- which makes it a member of %s when the owner may; else the administrator runs\n--   GRANT %s TO contoso_grafana;\n", TenantReaderRole, TenantReaderRole)
	fmt.Fprintf(&b, "--\n-- Step 2, as %s (the owner of schema defender), in database %s:\n",
		g.Owner, pgx.Identifier{g.Database}.Sanitize())
	b.WriteString(OwnerSQL + "\n")
	b.WriteString("-- Later migrations grant the roles what they add by themselves.\n")
	return b.String()
}
