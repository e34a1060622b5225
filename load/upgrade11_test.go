package load_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/scanagent"
)

// syncInterleavedTenants fills the database of pool, at schema version
// (goose.MaxVersion: the latest), through the loader with what the
// upgrade tests need: three tenants synced in turn every four hours over
// two and a half days (so that their agents, joining one or two at a
// time, take keys in turn), every resource each time, with a mass
// disappearance the guard withholds, agents deleted and returning,
// and agents never seen.
func syncInterleavedTenants(t *testing.T, pool *pgxpool.Pool, version int64) {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	now := start
	type tenant struct {
		loader *load.Loader
		fleet  *defendertest.Fleet
	}
	var tenants []tenant
	for i, id := range []string{"contoso.example", "fabrikam.example", "northwind.example"} {
		loader, err := load.New(pool, load.AtSchema(load.Config{TenantID: id, Logger: slog.New(slog.DiscardHandler),
			Now: func() time.Time { return now }}, version))
		if err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, tenant{loader, defendertest.NewFleet(int64(i+1), 40, start.Add(-24*time.Hour))})
	}
	for round := range 16 {
		for i, tn := range tenants {
			now = now.Add(time.Minute)
			all := tn.fleet.AgentsAt(now)
			agents := all[:min(len(all), 8+2*round+i)]
			switch {
			case i == 0 && round == 6: // a mass disappearance: withheld
				agents = agents[:len(agents)/3]
			case i == 1 && round >= 5 && round < 9: // three agents gone a while
				agents = agents[3:]
			}
			recs := make([]scanagent.Record, len(agents))
			for j, a := range agents {
				recs[j] = a.Record()
				if j%7 == 2 { // never seen
					recs[j].LastSeen, recs[j].LastCommandExecutionAt = time.Time{}, time.Time{}
				}
			}
			if _, err := tn.loader.Sync(ctx, listOf(recs...)); err != nil {
				t.Fatalf("round %d, %s: %v", round, tn.loader.TenantID(), err)
			}
			now = now.Add(time.Minute)
			if _, err := tn.loader.SyncDefinitions(ctx, loadtest.Definitions(tn.fleet, now)); err != nil {
				t.Fatalf("round %d, %s definitions: %v", round, tn.loader.TenantID(), err)
			}
			now = now.Add(time.Minute)
			if _, err := tn.loader.SyncHistory(ctx, loadtest.History(tn.fleet, now)); err != nil {
				t.Fatalf("round %d, %s history: %v", round, tn.loader.TenantID(), err)
			}
		}
		now = now.Add(4 * time.Hour)
	}
	for what, q := range map[string]string{
		"interleaved agent keys": `
			SELECT count(*) FROM defender_storage.agent_state a
			 WHERE EXISTS (SELECT FROM defender_storage.agent_state b
			                WHERE b.tenant_id <> a.tenant_id AND b.agent_key BETWEEN a.agent_key - 3 AND a.agent_key + 3)`,
		"withheld deletions":  `SELECT count(*) FROM defender_storage.withheld_deletions`,
		"returned agents":     `SELECT count(*) FROM defender.scan_agent_changes WHERE attribute = 'agent' AND new_value = 'returned'`,
		"deleted agents":      `SELECT count(*) FROM defender.scan_agent_changes WHERE attribute = 'agent' AND new_value = 'deleted'`,
		"never-seen agents":   `SELECT count(*) FROM defender.scan_agents WHERE last_seen IS NULL`,
		"definition versions": `SELECT count(*) FROM defender.scan_definition_history`,
		"sessions":            `SELECT count(*) FROM defender.scan_sessions`,
		"targets":             `SELECT count(*) FROM defender.scan_targets`,
		"days":                `SELECT count(DISTINCT day) FROM defender.scan_agent_daily`,
	} {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n < 2 {
			t.Fatalf("the fixture holds %d %s; it must hold several", n, what)
		}
	}
}

// TestUpgradeFromSchema11KeepsEveryAnswer: the history of several tenants
// whose agent keys interleave, with deleted, returned and never-seen
// agents, withheld deletions, scan definitions and history, written by
// the loader and migrated back to schema 11 (the packed heartbeats, the
// statement triggers, storage in schema defender), answers every
// documented query the same after the upgrade to the latest schema, and
// after migrating back down to 11 again.
func TestUpgradeFromSchema11KeepsEveryAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := interleavedTenantsAt(t, goose.MaxVersion)
	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatalf("down to schema 11: %v", err)
	}

	queries := map[string]string{}
	for _, set := range []map[string]string{dbtest.AgentAnswers, dbtest.LaterAnswers} {
		for name, q := range set {
			queries[name] = q
		}
	}
	before := map[string]string{}
	for name, q := range queries {
		before[name] = dbtest.Answer(t, pool, q)
		if strings.Count(before[name], "\n") < 3 {
			t.Fatalf("%s answers %d rows at schema 11; the fixture is too thin", name, strings.Count(before[name], "\n"))
		}
	}
	compare := func(when string) {
		t.Helper()
		for name, q := range queries {
			if got := dbtest.Answer(t, pool, q); got != before[name] {
				t.Errorf("%s: %s answers differently\nat schema 11:\n%s\nnow:\n%s", when, name, before[name], got)
			}
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	compare("after the upgrade")
	if m := dbtest.RollupMismatches(t, pool); len(m) > 0 {
		t.Errorf("rollups differ from their definition after the upgrade:\n%s", strings.Join(m, "\n"))
	}
	if m := dbtest.TargetStatusMismatches(t, pool); len(m) > 0 {
		t.Errorf("target_status differs from its definition after the upgrade:\n%s", strings.Join(m, "\n"))
	}
	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatalf("down to schema 11 again: %v", err)
	}
	compare("after migrating back down")
}
