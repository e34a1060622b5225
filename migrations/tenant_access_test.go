package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
)

// tenantAccess is a database holding three tenants' agents, definitions
// and scan history as the loader wrote them, with one tenant (mine) given
// to dbtest.TenantReaderRole.
type tenantAccess struct {
	url    string
	owner  *pgxpool.Pool
	mine   string
	others []string
	// times are the fetch times of every run and times between them, as
	// the owner sees them.
	times []pgtype.Timestamptz
}

func setupTenantAccess(t *testing.T) tenantAccess {
	t.Helper()
	ctx := context.Background()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	stories := []loadtest.Story{
		{TenantID: "contoso.example", Name: "Contoso", Agents: 30, Days: 8, Seed: 7, History: true, VanishDay: 6, End: end},
		{TenantID: "fabrikam.example", Name: "Fabrikam", Agents: 25, Days: 8, Seed: 3, History: true, FailDay: 4, End: end},
		{TenantID: "woodgrove.example", Agents: 20, Days: 8, Seed: 11, History: true, End: end.Add(-time.Hour)},
	}
	for _, s := range stories {
		loadtest.Sync(t, owner, s)
	}
	f := tenantAccess{url: url, owner: owner, mine: "contoso.example", others: []string{"fabrikam.example", "woodgrove.example"}}
	// Any case names the tenant.
	if _, err := owner.Exec(ctx, `SELECT defender.grant_tenant_access($1, 'Contoso.Example')`, dbtest.TenantReaderRole); err != nil {
		t.Fatalf("grant the tenant: %v", err)
	}
	if err := owner.QueryRow(ctx, `
		SELECT array_agg(DISTINCT at ORDER BY at) FROM (
		    SELECT fetched_at AS at FROM defender.sync_runs WHERE fetched_at IS NOT NULL
		    UNION ALL SELECT fetched_at + interval '17 minutes' FROM defender.sync_runs WHERE fetched_at IS NOT NULL
		    UNION ALL SELECT started_at - interval '1 second' FROM defender.sync_runs
		    UNION ALL SELECT '-infinity' UNION ALL SELECT 'infinity') x`).Scan(&f.times); err != nil {
		t.Fatal(err)
	}
	return f
}

// asRoles runs fn in one transaction (one snapshot, one now()) of the
// server's administrator on the test database, in which fn switches
// between roles with SET LOCAL ROLE: answers compare without a sync or a
// clock between them.
func (f tenantAccess) asRoles(t *testing.T, fn func(tx pgx.Tx, as func(role string))) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = f.owner.Config().ConnConfig.Database
	cfg.RuntimeParams["search_path"] = ""
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	fn(tx, func(role string) {
		t.Helper()
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	})
}

// lines returns the rows of query, each rendered as text, sorted.
func lines(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, query string, args ...any) []string {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT x::text FROM (`+query+`) x`, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	slices.Sort(out)
	return out
}

// readable is what defender_reader may read, from the catalog: relations
// of schema defender and functions of schema defender it may execute.
type readable struct {
	relations []string
	functions []struct {
		signature, name string
		returnsSet      bool
		volatility      string
	}
}

func readableByReader(t *testing.T, pool *pgxpool.Pool) readable {
	t.Helper()
	ctx := context.Background()
	var r readable
	if err := pool.QueryRow(ctx, `
		SELECT array_agg(c.oid::regclass::text ORDER BY c.relname) FROM pg_class c
		 WHERE c.relnamespace = 'defender'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		   AND has_table_privilege('defender_reader', c.oid, 'SELECT')`).Scan(&r.relations); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `
		SELECT p.oid::regprocedure::text, p.proname::text, p.proretset, p.provolatile::text FROM pg_proc p
		 WHERE p.pronamespace = 'defender'::regnamespace AND has_function_privilege('defender_reader', p.oid, 'EXECUTE')
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var fn struct {
			signature, name string
			returnsSet      bool
			volatility      string
		}
		if err := rows.Scan(&fn.signature, &fn.name, &fn.returnsSet, &fn.volatility); err != nil {
			t.Fatal(err)
		}
		r.functions = append(r.functions, fn)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.relations) < 17 || len(r.functions) < 5 {
		t.Fatalf("defender_reader reads %d relations and %d functions; the catalog query is wrong", len(r.relations), len(r.functions))
	}
	return r
}

// functionCalls are the calls, one query each, that read every function of
// the reporting surface that returns rows; $1 is a list of times, $2 the
// granted tenant, $3 another tenant. A function defender_reader may
// execute that returns rows and is missing here fails the test.
var functionCalls = map[string][]string{
	"scan_agents_as_of": {
		`SELECT x.at, a.* FROM unnest($1::timestamptz[]) x(at) CROSS JOIN LATERAL defender.scan_agents_as_of(x.at) a WHERE $2::text IS NOT NULL AND $3::text IS NOT NULL`,
	},
	"scan_agents_diff": {
		`SELECT * FROM defender.scan_agents_diff('-infinity', 'infinity') WHERE $1::timestamptz[] IS NOT NULL AND $2::text IS NOT NULL AND $3::text IS NOT NULL`,
		`SELECT x.i, d.* FROM generate_subscripts($1::timestamptz[], 1) x(i)
		   CROSS JOIN LATERAL defender.scan_agents_diff(($1::timestamptz[])[1], ($1::timestamptz[])[x.i]) d
		  WHERE x.i % 7 = 0 AND $2::text IS NOT NULL AND $3::text IS NOT NULL`,
		`SELECT x.i, d.* FROM generate_subscripts($1::timestamptz[], 1) x(i)
		   CROSS JOIN LATERAL defender.scan_agents_diff(($1::timestamptz[])[x.i], 'infinity', $2) d
		  WHERE x.i % 5 = 0 AND $3::text IS NOT NULL`,
		`SELECT * FROM defender.scan_agents_diff('-infinity', 'infinity', upper($2)) WHERE $1::timestamptz[] IS NOT NULL AND $3::text IS NOT NULL`,
		// Another tenant's id as the argument: nothing of it.
		`SELECT * FROM defender.scan_agents_diff('-infinity', 'infinity', $3) WHERE $1::timestamptz[] IS NOT NULL AND $2::text IS NOT NULL`,
	},
}

// TestTenantRoleSeesOnlyItsTenantEverywhere enumerates every relation and
// function defender_reader may read and finds, as a role given one tenant,
// exactly the rows defender_reader sees of that tenant, and none of
// another; taking the tenant back leaves it nothing.
func TestTenantRoleSeesOnlyItsTenantEverywhere(t *testing.T) {
	t.Parallel()
	f := setupTenantAccess(t)
	surface := readableByReader(t, f.owner)
	check := func(when string, wantRows bool) {
		t.Helper()
		f.asRoles(t, func(tx pgx.Tx, as func(string)) {
			for _, rel := range surface.relations {
				as(dbtest.ReaderRole)
				all := lines(t, tx, `SELECT * FROM `+rel)
				own := lines(t, tx, `SELECT * FROM `+rel+` r WHERE r.tenant_id = $1`, f.mine)
				as(dbtest.TenantReaderRole)
				got := lines(t, tx, `SELECT * FROM `+rel)
				foreign := lines(t, tx, `SELECT r.tenant_id FROM `+rel+` r WHERE r.tenant_id <> $1`, f.mine)
				if wantRows && (len(own) == 0 || len(own) == len(all)) {
					t.Errorf("%s: defender_reader sees %d rows, %d of them of %s: the fixture does not test it", rel, len(all), len(own), f.mine)
				}
				if !wantRows {
					own = nil
				}
				if len(foreign) > 0 {
					t.Errorf("%s: %s: the tenant's role sees %d rows of other tenants", when, rel, len(foreign))
				}
				if !slices.Equal(got, own) {
					t.Errorf("%s: %s: the tenant's role sees %d rows, defender_reader %d of the tenant; first difference:\n%s",
						when, rel, len(got), len(own), firstLineDifference(own, got))
				}
			}
			for _, fn := range surface.functions {
				calls, ok := functionCalls[fn.name]
				switch {
				case !fn.returnsSet && fn.volatility == "i":
					continue // computes from its arguments alone: no rows to leak
				case !ok:
					t.Errorf("%s returns rows and the test calls it nowhere: add its calls to functionCalls", fn.signature)
					continue
				}
				for _, call := range calls {
					as(dbtest.ReaderRole)
					all := lines(t, tx, call, f.times, f.mine, f.others[0])
					own := lines(t, tx, `SELECT c.* FROM (`+call+`) c WHERE c.tenant_id = $2`, f.times, f.mine, f.others[0])
					as(dbtest.TenantReaderRole)
					got := lines(t, tx, call, f.times, f.mine, f.others[0])
					foreign := lines(t, tx, `SELECT c.tenant_id FROM (`+call+`) c WHERE c.tenant_id <> $2`, f.times, f.mine, f.others[0])
					if len(all) == 0 {
						t.Errorf("%s: defender_reader gets no row: the fixture does not test it", call)
					}
					if !wantRows {
						own = nil
					}
					if len(foreign) > 0 {
						t.Errorf("%s: the tenant's role gets %d rows of other tenants from\n%s", when, len(foreign), call)
					}
					if !slices.Equal(got, own) {
						t.Errorf("%s: the tenant's role gets %d rows, defender_reader %d of the tenant, from\n%s\nfirst difference:\n%s",
							when, len(got), len(own), call, firstLineDifference(own, got))
					}
				}
			}
		})
	}
	check("granted", true)

	if _, err := f.owner.Exec(context.Background(), `SELECT defender.revoke_tenant_access($1, $2)`, dbtest.TenantReaderRole, f.mine); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	check("revoked", false)
}

func firstLineDifference(want, got []string) string {
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return "want " + w + "\n got " + g
		}
	}
	return "(none)"
}

// noticeConn logs in as the tenant's role on its own connection, keeping
// every notice the server sends.
func noticeConn(t *testing.T, url, user string) (*pgx.Conn, func() []string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = user
	var mu sync.Mutex
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n.Message)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := notices
		notices = nil
		return out
	}
}

// TestTenantRoleHasNoWayAround: as a role given one tenant, a leaky
// function or operator in a WHERE on every relation and function sees no
// value it may not read, EXPLAIN shows no other tenant's value, the
// storage and the owner's functions are refused, and the planner's
// statistics say nothing of the other tenants.
func TestTenantRoleHasNoWayAround(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setupTenantAccess(t)
	surface := readableByReader(t, f.owner)
	if _, err := f.owner.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	conn, notices := noticeConn(t, f.url, dbtest.TenantReaderRole)
	for _, s := range []string{
		`CREATE FUNCTION pg_temp.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
		 BEGIN RAISE NOTICE 'leak:%', coalesce(v, '<null>'); RETURN true; END $$`,
		`CREATE FUNCTION pg_temp.leaky_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
		 BEGIN RAISE NOTICE 'leak:%', coalesce(a, '<null>'); RETURN a IS DISTINCT FROM b; END $$`,
		`CREATE OPERATOR pg_temp.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_temp.leaky_eq)`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// The values of other tenants: what must never show.
	var secrets []string
	if err := f.owner.QueryRow(ctx, `
		SELECT array_agg(DISTINCT v) FROM (
		    SELECT tenant_id AS v FROM defender.scan_agents WHERE tenant_id <> $1
		    UNION ALL SELECT agent_id FROM defender.scan_agents WHERE tenant_id <> $1
		    UNION ALL SELECT computer_dns_name FROM defender.scan_agents WHERE tenant_id <> $1
		    UNION ALL SELECT definition_id FROM defender.scan_definitions WHERE tenant_id <> $1) s
		 WHERE v IS NOT NULL`, f.mine).Scan(&secrets); err != nil {
		t.Fatal(err)
	}
	if len(secrets) < 50 {
		t.Fatalf("only %d values of other tenants: the fixture is thin", len(secrets))
	}

	leaks := func(what string, allowed map[string]bool) {
		t.Helper()
		n := 0
		for _, msg := range notices() {
			v, ok := strings.CutPrefix(msg, "leak:")
			if !ok {
				continue
			}
			n++
			if !allowed[v] {
				t.Errorf("%s: a leaky function saw %q, which the role may not read", what, v)
				return
			}
		}
	}
	visible := func(query, column string) map[string]bool {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT DISTINCT coalesce(x.`+pgx.Identifier{column}.Sanitize()+`::text, '<null>') FROM (`+query+`) x`, f.times)
		if err != nil {
			t.Fatalf("%v\n%s", err, query)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, v := range vals {
			m[v] = true
		}
		return m
	}
	columnsOf := func(query string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, `SELECT * FROM (`+query+`) x LIMIT 0`, f.times)
		if err != nil {
			t.Fatalf("%v\n%s", err, query)
		}
		defer rows.Close()
		var cols []string
		for _, fd := range rows.FieldDescriptions() {
			cols = append(cols, fd.Name)
		}
		return cols
	}
	sources := map[string]string{}
	for _, rel := range surface.relations {
		sources[rel] = `SELECT * FROM ` + rel + ` WHERE $1::timestamptz[] IS NOT NULL`
	}
	sources["scan_agents_as_of"] = `SELECT a.* FROM unnest($1::timestamptz[]) x(at) CROSS JOIN LATERAL defender.scan_agents_as_of(x.at) a`
	sources["scan_agents_diff"] = `SELECT * FROM defender.scan_agents_diff(($1::timestamptz[])[1], 'infinity')`
	for name, source := range sources {
		for _, column := range columnsOf(source) {
			allowed, col := visible(source, column), pgx.Identifier{column}.Sanitize()
			notices()
			// The leaky qual straight on the relation or function, as a
			// user writes it, and through the operator.
			var q string
			if strings.HasPrefix(name, "defender.") {
				q = `SELECT count(*) FROM ` + name + ` x WHERE pg_temp.leak(x.` + col + `::text) AND $1::timestamptz[] IS NOT NULL`
			} else {
				q = `SELECT count(*) FROM (` + source + `) x WHERE pg_temp.leak(x.` + col + `::text)`
			}
			if _, err := conn.Exec(ctx, q, f.times); err != nil {
				t.Fatalf("%v\n%s", err, q)
			}
			leaks(name+"."+col, allowed)
			if strings.HasPrefix(name, "defender.") {
				q = `SELECT count(*) FROM ` + name + ` x WHERE x.` + col + `::text OPERATOR(pg_temp.===) 'x' AND $1::timestamptz[] IS NOT NULL`
				if _, err := conn.Exec(ctx, q, f.times); err != nil {
					t.Fatalf("%v\n%s", err, q)
				}
				leaks(name+"."+col+" (operator)", allowed)
			}
		}
		// EXPLAIN, run or not, as the role: no value of another tenant.
		for _, explain := range []string{"EXPLAIN (VERBOSE, COSTS ON) ", "EXPLAIN (ANALYZE, VERBOSE, BUFFERS) "} {
			rows, err := conn.Query(ctx, explain+source, f.times)
			if err != nil {
				t.Fatalf("%v\n%s", err, source)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("%s%s shows %q of another tenant:\n%s", explain, name, s, text)
					break
				}
			}
		}
	}

	// The statistics of the readable tables (pg_stats) would show other
	// tenants' values; row-level security hides them from the role.
	var stats int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stats WHERE schemaname IN ('defender', 'defender_storage')`).Scan(&stats); err != nil {
		t.Fatal(err)
	}
	if stats != 0 {
		t.Errorf("the tenant's role reads %d rows of pg_stats on agentsync's tables", stats)
	}

	for _, q := range []string{
		`SELECT count(*) FROM defender_storage.tenant_access`,
		`SELECT count(*) FROM defender_storage.agent_state`,
		`SELECT defender_storage.visible_tenants('agentsync_test')`,
		`SELECT count(*) FROM defender_storage.scan_agents_as_of(now(), 'agentsync_test', NULL)`,
		`SELECT count(*) FROM defender_storage.scan_agents_diff('-infinity', 'infinity', NULL, 'agentsync_test')`,
		`SELECT defender.grant_tenant_access('` + dbtest.TenantReaderRole + `', 'fabrikam.example')`,
		`SELECT defender.revoke_tenant_access('` + dbtest.TenantReaderRole + `', 'contoso.example')`,
		`SELECT defender.grant_reader_access()`,
		`SET ROLE defender_reader`,
		`INSERT INTO defender_storage.sync_run (tenant_no, resource, started_at) VALUES (1, 'a', now())`,
	} {
		_, err := conn.Exec(ctx, q)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s: err = %v, want permission denied", q, err)
		}
	}
}

// TestGrantTenantAccessSaysWhatIsWrong: the owner's functions name the
// unknown role or tenant, refuse a role that sees every tenant anyway,
// and tell the administrator's step when the owner may not grant
// defender_tenant_reader.
func TestGrantTenantAccessSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t)
	owner, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	loadtest.Sync(t, owner, loadtest.Story{TenantID: "contoso.example", Agents: 5, Days: 2})
	for _, c := range []struct{ call, want string }{
		{`SELECT defender.grant_tenant_access('no_such_role_x', 'contoso.example')`, `role "no_such_role_x" does not exist`},
		{`SELECT defender.grant_tenant_access('` + dbtest.TenantReaderRole + `', 'tailspin.example')`, `tenant "tailspin.example" is not stored`},
		{`SELECT defender.grant_tenant_access('` + dbtest.ReaderRole + `', 'contoso.example')`, `sees every tenant already`},
		{`SELECT defender.grant_tenant_access(NULL, 'contoso.example')`, `must both be given`},
		{`SELECT defender.revoke_tenant_access('no_such_role_x', 'contoso.example')`, `role "no_such_role_x" does not exist`},
		{`SELECT defender.revoke_tenant_access('` + dbtest.TenantReaderRole + `', 'tailspin.example')`, `tenant "tailspin.example" is not stored`},
	} {
		_, err := owner.Exec(ctx, c.call)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to say %s", c.call, err, c.want)
		}
	}

	// A login not yet a member of defender_tenant_reader: the owner may
	// not grant roles here; the access is recorded and the notice gives
	// the administrator's statement, which then suffices.
	name := fmt.Sprintf("agentsync_customer_%d", time.Now().UnixNano()%1e9)
	dbtest.Admin(t, "", "CREATE ROLE "+name+" LOGIN")
	t.Cleanup(func() { dbtest.Admin(t, "", "DROP ROLE IF EXISTS "+name) })
	conn, notices := noticeConn(t, url, owner.Config().ConnConfig.User)
	if _, err := conn.Exec(ctx, `SELECT defender.grant_tenant_access($1, 'contoso.example')`, name); err != nil {
		t.Fatalf("grant to a login outside defender_tenant_reader: %v", err)
	}
	got := strings.Join(notices(), "\n")
	if !strings.Contains(got, "may not grant role defender_tenant_reader") {
		t.Fatalf("notices: %q; want the step for the administrator", got)
	}
	dbtest.Admin(t, "", "GRANT defender_tenant_reader TO "+name)
	customer, _ := noticeConn(t, url, name)
	var tenants []string
	if err := customer.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT tenant_id), '{}') FROM defender.scan_agents`).Scan(&tenants); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tenants, []string{"contoso.example"}) {
		t.Errorf("the customer's login sees tenants %v, want contoso.example", tenants)
	}
	// A grant counts while its role has the name it was granted to: under
	// another name the login sees nothing, through the views (which read
	// the grants in their own plan), the table scan_agent_history (its
	// policy) and scan_agents_as_of (which asks visible_tenants); under
	// its own name again, its tenant.
	seen := func(login string) []string {
		t.Helper()
		c, _ := noticeConn(t, url, login)
		defer c.Close(ctx)
		var got []string
		if err := c.QueryRow(ctx, `
			SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}')
			  FROM (SELECT 'scan_agents ' || tenant_id FROM defender.scan_agents
			        UNION ALL SELECT 'scan_agent_history ' || tenant_id FROM defender.scan_agent_history
			        UNION ALL SELECT 'scan_agents_as_of ' || tenant_id FROM defender.scan_agents_as_of(now())) q(s)`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	renamed := name + "_renamed"
	dbtest.Admin(t, "", "ALTER ROLE "+name+" RENAME TO "+renamed)
	if got := seen(renamed); len(got) != 0 {
		t.Errorf("the login renamed sees %v, want nothing", got)
	}
	dbtest.Admin(t, "", "ALTER ROLE "+renamed+" RENAME TO "+name)
	if got, want := seen(name), []string{"scan_agent_history contoso.example", "scan_agents contoso.example", "scan_agents_as_of contoso.example"}; !slices.Equal(got, want) {
		t.Errorf("the login under its own name again sees %v, want %v", got, want)
	}
	// Revoking removes the access.
	if _, err := owner.Exec(ctx, `SELECT defender.revoke_tenant_access($1, 'contoso.example')`, name); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM defender_storage.tenant_access`).Scan(&left); err != nil || left != 0 {
		t.Errorf("access rows left after revoke: %d, %v", left, err)
	}
}

// TestTenantReaderHoldsTheReadersPrivileges: defender_tenant_reader may
// read and execute exactly what defender_reader may, in both schemas, and
// has no USAGE on the storage's schema.
func TestTenantReaderHoldsTheReadersPrivileges(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	var differ []string
	if err := pool.QueryRow(context.Background(), `
		SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM (
		    SELECT c.oid::regclass::text AS name
		      FROM pg_class c
		     WHERE c.relnamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace)
		       AND has_table_privilege('defender_reader', c.oid, 'SELECT')
		           IS DISTINCT FROM has_table_privilege('defender_tenant_reader', c.oid, 'SELECT')
		    UNION ALL
		    SELECT p.oid::regprocedure::text
		      FROM pg_proc p
		     WHERE p.pronamespace IN ('defender'::regnamespace, 'defender_storage'::regnamespace)
		       AND has_function_privilege('defender_reader', p.oid, 'EXECUTE')
		           IS DISTINCT FROM has_function_privilege('defender_tenant_reader', p.oid, 'EXECUTE')
		    UNION ALL
		    SELECT 'USAGE on ' || n.nspname
		      FROM pg_namespace n
		     WHERE n.nspname IN ('defender', 'defender_storage')
		       AND (has_schema_privilege('defender_reader', n.oid, 'USAGE')
		            IS DISTINCT FROM has_schema_privilege('defender_tenant_reader', n.oid, 'USAGE')
		            OR (n.nspname = 'defender_storage' AND has_schema_privilege('defender_tenant_reader', n.oid, 'USAGE')))) d`).Scan(&differ); err != nil {
		t.Fatal(err)
	}
	if len(differ) > 0 {
		t.Errorf("defender_tenant_reader's privileges differ from defender_reader's on %s", strings.Join(differ, ", "))
	}
}
