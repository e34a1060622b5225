package migrations_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/migrations"
)

// TestMigrateWithoutCreateOnPublic: as on PostgreSQL 15 and managed
// servers, the migrating user owns neither the database nor public; the
// administrator let it create schemas and created btree_gist. Migrating
// needs nothing on public: goose's records go to the schema agentsync.
func TestMigrateWithoutCreateOnPublic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name, url := dbtest.AdminDatabase(t)
	dbtest.Admin(t, name,
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT CREATE ON DATABASE "+name+" TO "+name,
		"CREATE EXTENSION btree_gist WITH SCHEMA public")
	db := openURL(t, url)
	var mayCreate bool
	if err := db.QueryRow(`SELECT has_schema_privilege('public', 'CREATE')`).Scan(&mayCreate); err != nil || mayCreate {
		t.Fatalf("the migrating user may create in public (%v, %v): the test proves nothing", mayCreate, err)
	}
	if _, err := migrations.Up(ctx, db, nil); err != nil {
		t.Fatalf("migrate as a user without CREATE on public: %v", err)
	}
	var owner string
	if err := db.QueryRow(`SELECT c.relowner::regrole::text FROM pg_class c WHERE c.oid = $1::regclass`, migrations.VersionTable).Scan(&owner); err != nil || owner != name {
		t.Fatalf("owner of %s = %q, %v; want %s", migrations.VersionTable, owner, err, name)
	}
	statuses, err := migrations.Status(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if !s.Applied {
			t.Errorf("%s is pending after up", s.Path)
		}
	}
}

// TestMigrateIntoASchemaTheAdministratorCreated: the administrator made
// the schema agentsync for the migrating user; migrating uses it.
func TestMigrateIntoASchemaTheAdministratorCreated(t *testing.T) {
	t.Parallel()
	name, url := dbtest.AdminDatabase(t)
	dbtest.Admin(t, name,
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT CREATE ON DATABASE "+name+" TO "+name,
		"CREATE SCHEMA agentsync AUTHORIZATION "+name,
		"CREATE EXTENSION btree_gist WITH SCHEMA public")
	db := openURL(t, url)
	if _, err := migrations.Up(context.Background(), db, nil); err != nil {
		t.Fatalf("migrate into a schema the administrator created: %v", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + migrations.VersionTable + ` WHERE version_id > 0`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("applied migrations recorded = %d, %v", n, err)
	}
}

// TestPrepareMovesTheRecordOutOfPublic: a database migrated by a version
// that kept goose's record in public gets it moved to the schema
// agentsync, every row kept, by two processes at once; nothing is applied
// again.
func TestPrepareMovesTheRecordOutOfPublic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	db := openURL(t, url)
	execOrFail(t, db, `ALTER TABLE agentsync.goose_db_version SET SCHEMA public`)
	execOrFail(t, db, `ALTER TABLE public.goose_db_version RENAME TO agentsync_goose_db_version`)
	execOrFail(t, db, `DROP SCHEMA agentsync CASCADE`)
	rows := func(table string) string {
		t.Helper()
		var s string
		if err := db.QueryRow(`SELECT string_agg(x::text, E'\n' ORDER BY id) FROM ` + table + ` x`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := rows("public.agentsync_goose_db_version")
	// Before any process moved it, status reads it where it is.
	statuses, err := migrations.Status(ctx, db)
	if err != nil {
		t.Fatalf("status before the move: %v", err)
	}
	for _, s := range statuses {
		if !s.Applied {
			t.Errorf("status before the move: %s pending", s.Path)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	dbs := []*sql.DB{db, openURL(t, url)}
	for i := range errs {
		wg.Go(func() { _, errs[i] = migrations.Up(ctx, dbs[i], nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("up #%d after the move: %v", i, err)
		}
	}
	if after := rows(migrations.VersionTable); after != before {
		t.Fatalf("record after the move:\n%s\nwant:\n%s", after, before)
	}
	var left bool
	if err := db.QueryRow(`SELECT to_regclass('public.agentsync_goose_db_version') IS NOT NULL`).Scan(&left); err != nil || left {
		t.Fatalf("the record is still in public (%v, %v)", left, err)
	}
	if !strings.Contains(before, "t") {
		t.Fatal("empty record")
	}
}
