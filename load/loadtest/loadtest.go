// Package loadtest fills test databases with the history of a simulated
// tenant: a defendertest.Fleet synced once a simulated day through the real
// loader, with a failed sync and a mass disappearance on chosen days, so
// that readers of the history (reports, dashboards, documented queries)
// are tested against what a month of syncs writes.
package loadtest

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/scanagent"
)

// Story is what the simulated tenant goes through. Zero values take the
// defaults.
type Story struct {
	// TenantID is the tenant synced; defendertest.DefaultTenantID when empty.
	TenantID string
	// Name is the tenant's display name (fleet_daily.tenant_name); none
	// when empty.
	Name string
	// Agents in the fleet (default 120) and simulated days, one sync each
	// (default 30).
	Agents, Days int
	// Seed of the fleet (default 1).
	Seed int64
	// FailDay is the day whose sync fails (its listing breaks off); 0 for
	// none.
	FailDay int
	// VanishDay is the day whose listing returns only a third of the
	// agents: the mass-deletion guard withholds the deletions. 0 for none.
	VanishDay int
	// Definitions also syncs the fleet's scan definitions each day, a
	// minute after its agents (the definitions' own runs), so that their
	// history has edits, moves and deletions too.
	Definitions bool
	// History also syncs the scan history of those definitions (its own
	// runs, a minute after theirs): sessions and targets. It implies
	// Definitions.
	History bool
	// End is the time of the last sync; the current hour when zero, so that
	// the history ends about now as the demo's does.
	End time.Time
}

// errBrokenListing is the failure of the story's FailDay.
var errBrokenListing = errors.New("simulated listing broken off: 403 Forbidden on page 2")

// Synced is what Sync wrote.
type Synced struct {
	// TenantID is the tenant as stored (lower case).
	TenantID string
	// Start is the fleet's start, a day before the first sync; End the
	// time of the last sync.
	Start, End time.Time
	// Results of the successful syncs, by day (the failed day has none).
	Results map[int]load.Result
}

// Sync tells the story into the database of pool and returns what it
// wrote. It fails the test on any unexpected error.
func Sync(t testing.TB, pool *pgxpool.Pool, s Story) Synced {
	t.Helper()
	if s.TenantID == "" {
		s.TenantID = defendertest.DefaultTenantID
	}
	if s.Agents == 0 {
		s.Agents = 120
	}
	if s.Days == 0 {
		s.Days = 30
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.History {
		s.Definitions = true
	}
	if s.End.IsZero() {
		s.End = time.Now().UTC().Truncate(time.Hour)
	}
	start := s.End.Add(-time.Duration(s.Days) * 24 * time.Hour)
	fleet := defendertest.NewFleet(s.Seed, s.Agents, start)
	now := start
	loader, err := load.New(pool, load.Config{
		TenantID:   s.TenantID,
		TenantName: s.Name,
		Logger:     slog.New(slog.DiscardHandler),
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	out := Synced{TenantID: loader.TenantID(), Start: start, End: s.End, Results: map[int]load.Result{}}
	for day := 1; day <= s.Days; day++ {
		now = start.Add(time.Duration(day) * 24 * time.Hour)
		agents := fleet.AgentsAt(now)
		if day == s.VanishDay {
			agents = agents[:len(agents)/3]
		}
		list := func(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
			for i, a := range agents {
				if day == s.FailDay && i == len(agents)/2 {
					return scanagent.ListStats{}, errBrokenListing
				}
				if err := fn(a.Record()); err != nil {
					return scanagent.ListStats{}, err
				}
			}
			pages := (len(agents) + 99) / 100
			return scanagent.ListStats{Requests: pages, Pages: pages, Agents: len(agents)}, nil
		}
		res, err := loader.Sync(context.Background(), list)
		switch {
		case day == s.FailDay && err == nil:
			t.Fatalf("the sync of day %d was to fail", day)
		case day == s.FailDay:
		case err != nil:
			t.Fatalf("sync of day %d: %v", day, err)
		default:
			out.Results[day] = res
		}
		if s.Definitions {
			now = now.Add(time.Minute)
			if _, err := loader.SyncDefinitions(context.Background(), definitionsAt(fleet, now)); err != nil {
				t.Fatalf("sync of day %d's definitions: %v", day, err)
			}
		}
		if s.History {
			now = now.Add(time.Minute)
			if _, err := loader.SyncHistory(context.Background(), fleetHistory{fleet: fleet, at: now}); err != nil {
				t.Fatalf("sync of day %d's scan history: %v", day, err)
			}
		}
	}
	return out
}

// Definitions is the complete listing of the fleet's scan definitions at
// t.
func Definitions(fleet *defendertest.Fleet, t time.Time) scanagent.DefinitionListFunc {
	return definitionsAt(fleet, t)
}

// definitionsAt is the complete listing of the fleet's scan definitions
// at t.
func definitionsAt(fleet *defendertest.Fleet, t time.Time) scanagent.DefinitionListFunc {
	defs := fleet.DefinitionsAt(t)
	return func(ctx context.Context, fn func(scanagent.ScanDefinition) error) (scanagent.ListStats, error) {
		for _, d := range defs {
			if err := fn(d.Record()); err != nil {
				return scanagent.ListStats{}, err
			}
		}
		return scanagent.ListStats{Requests: 1, Pages: 1, Agents: len(defs)}, nil
	}
}

// History is the fleet's scan history as the API lists it at t.
func History(fleet *defendertest.Fleet, t time.Time) scanagent.HistorySource {
	return fleetHistory{fleet, t}
}

// fleetHistory is the fleet's scan history as the API lists it at a time.
type fleetHistory struct {
	fleet *defendertest.Fleet
	at    time.Time
}

func (h fleetHistory) SessionsByDefinition(ctx context.Context, ids []string, since time.Time, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	st := scanagent.ListStats{Requests: 1, Pages: 1}
	for _, s := range h.fleet.SessionsAt(h.at, ids) {
		if s.ScannedAt.Before(since) {
			continue
		}
		if err := fn(s.Record(false)); err != nil {
			return st, err
		}
		st.Agents++
	}
	return st, nil
}

func (h fleetHistory) SessionsByID(ctx context.Context, ids []string, fn func(scanagent.ScanSession) error) (scanagent.ListStats, error) {
	st := scanagent.ListStats{Requests: 1, Pages: 1}
	for _, id := range ids {
		s, ok := h.fleet.Session(h.at, id)
		if !ok {
			continue
		}
		if err := fn(s.Record(true)); err != nil {
			return st, err
		}
		st.Agents++
	}
	return st, nil
}
