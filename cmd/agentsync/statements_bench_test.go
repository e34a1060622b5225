package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// statementStats reads what pg_stat_statements counted of the statements
// of one database, through the test server's administrative connection
// (dbtest.ServerURL): the server must load the module
// (shared_preload_libraries) and the administrative database must have
// the extension. BenchmarkSyncManyTenants resets it before each pass
// and prints it after, with AGENTSYNC_BENCH_STATEMENTS=1.
type statementStats struct {
	conn     *pgx.Conn
	database string // the benchmark's database, whose statements count
}

// newStatementStats connects to the test server for the statements of
// the database of dbURL, or fails the benchmark saying what the server
// lacks.
func newStatementStats(b *testing.B, dbURL string) *statementStats {
	b.Helper()
	ctx := context.Background()
	u, err := url.Parse(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbtest.ServerURL())
	if err != nil {
		b.Fatal(err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `
		SELECT pg_catalog.to_regclass('pg_stat_statements') IS NOT NULL
		   AND 'pg_stat_statements' = ANY (pg_catalog.regexp_split_to_array(pg_catalog.current_setting('shared_preload_libraries'), '\s*,\s*'))`).Scan(&ok); err != nil {
		b.Fatal(err)
	}
	if !ok {
		_ = conn.Close(ctx)
		b.Fatalf("AGENTSYNC_BENCH_STATEMENTS=1 needs pg_stat_statements on the test server (TEST_DATABASE_URL): in shared_preload_libraries, with pg_stat_statements.track = all and track_planning = on, and created in the database of that URL (docs/performance.md)")
	}
	return &statementStats{conn: conn, database: strings.TrimPrefix(u.Path, "/")}
}

func (s *statementStats) close() { _ = s.conn.Close(context.Background()) }

// reset forgets what was counted so far, of every database.
func (s *statementStats) reset(b *testing.B) {
	b.Helper()
	if _, err := s.conn.Exec(context.Background(), `SELECT pg_stat_statements_reset()`); err != nil {
		b.Fatal(err)
	}
}

// print prints, per tenant of n, the time the database's statements took
// since the last reset: in all, in PostgreSQL's checks of foreign keys
// (the queries their triggers run), and for the statements that took the
// most, each named by its first line (the loader's statements begin with
// a comment that names them; a statement run on two connections, whose
// temporary tables differ, counts once).
func (s *statementStats) print(b *testing.B, pass string, n int) {
	b.Helper()
	rows, err := s.conn.Query(context.Background(), `
		SELECT pg_catalog.split_part(pg_catalog.ltrim(s.query), E'\n', 1), s.toplevel,
		       s.query LIKE '%FOR KEY SHARE OF x', s.calls, s.total_exec_time, s.total_plan_time
		  FROM pg_stat_statements s
		 WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = $1)`, s.database)
	if err != nil {
		b.Fatal(err)
	}
	type stat struct {
		name        string
		calls       int64
		exec, plans float64 // ms
	}
	byName := map[string]*stat{}
	var all, keys, copies stat
	for rows.Next() {
		var r stat
		var toplevel, keyCheck bool
		if err := rows.Scan(&r.name, &toplevel, &keyCheck, &r.calls, &r.exec, &r.plans); err != nil {
			b.Fatal(err)
		}
		if keyCheck && !toplevel {
			keys.calls += r.calls
			keys.exec += r.exec
		}
		if !toplevel {
			continue
		}
		if strings.HasPrefix(strings.ToLower(r.name), "copy ") {
			// A COPY lasts as long as the listing it streams from the API.
			copies.exec += r.exec
			continue
		}
		all.exec += r.exec
		all.plans += r.plans
		t := byName[r.name]
		if t == nil {
			t = &stat{name: r.name}
			byName[r.name] = t
		}
		t.calls += r.calls
		t.exec += r.exec
		t.plans += r.plans
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	per := func(ms float64) float64 { return ms / float64(n) }
	fmt.Printf("\n%s: the statements as pg_stat_statements counted them, per tenant: %.1f ms executing and %.1f ms planning, besides %.1f ms of COPY (as long as the listing it streams); PostgreSQL's foreign key checks: %.0f queries, %.1f ms executing\n",
		pass, per(all.exec), per(all.plans), per(copies.exec), per(float64(keys.calls)), per(keys.exec))
	stats := slices.Collect(maps.Values(byName))
	slices.SortFunc(stats, func(x, y *stat) int { return cmp.Compare(y.exec+y.plans, x.exec+x.plans) })
	for _, t := range stats[:min(10, len(stats))] {
		name := t.name
		if len(name) > 72 {
			name = name[:72]
		}
		fmt.Printf("  %-72s %6.2f ms (%.2f planning), %.1f calls\n", name, per(t.exec+t.plans), per(t.plans), per(float64(t.calls)))
	}
}
