package load_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// statements records the SQL a pool sends.
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, data.SQL)
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart records a batch's statements, each batch as one entry:
// its statements joined by "; ", in order.
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sql []string
	for _, q := range data.Batch.QueuedQueries {
		sql = append(sql, q.SQL)
	}
	s.sql = append(s.sql, strings.Join(sql, "; "))
	return ctx
}

func (s *statements) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestWriterTransactionsPinTheSearchPath: every transaction a sync of
// each resource begins sets search_path to pg_catalog, pg_temp for
// itself, so that no unqualified name could resolve into a schema another
// role may create objects in; and the setting ends with the transaction.
func TestWriterTransactionsPinTheSearchPath(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	// The path a login gets by default, where the pin matters.
	cfg.ConnConfig.RuntimeParams["search_path"] = `"$user", public`
	cfg.MaxConns = 1
	rec := &statements{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := load.New(pool, load.Config{TenantID: tenant, Now: (&clock{now: t0}).Now, Worker: "test"})
	if err != nil {
		t.Fatal(err)
	}
	src := load.Sources{Agents: listOf(agents(3)...), Definitions: definitionsOf(definitions(2)...), History: &history{}}
	for _, o := range l.SyncResources(context.Background(), scanagent.AllResources, src) {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Resource, o.Err)
		}
	}
	begin := regexp.MustCompile(`(?i)^\s*(begin|start\s+transaction)\b`)
	begun := 0
	rec.mu.Lock()
	for _, sql := range rec.sql {
		if !begin.MatchString(sql) {
			continue
		}
		begun++
		// The pin follows the BEGIN, in the same query or batch.
		if !regexp.MustCompile(`(?i)^\s*begin\s*;(\s|--[^\n]*\n)*SET LOCAL search_path = pg_catalog, pg_temp`).MatchString(sql) {
			t.Errorf("a sync began a transaction without pinning search_path: %q", sql)
		}
	}
	rec.mu.Unlock()
	if begun < 3 {
		t.Errorf("%d transactions begun, want one per resource at least", begun)
	}
	// Nothing of the pin outlives its transaction.
	var path string
	if err := pool.QueryRow(context.Background(), "SHOW search_path").Scan(&path); err != nil || path != `"$user", public` {
		t.Errorf("search_path after the syncs = %q, %v; want the login's own", path, err)
	}
}
