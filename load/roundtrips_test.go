package load_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/scanagent"
)

// TestRoundTripsOfAnHourlyAgentsSync: an hourly sync of a tenant whose
// agents only moved their heartbeats, or did not move at all, waits for
// the server six times: the lease; the run's start with the latest sync's
// fetch time; BEGIN with the transaction's set-up and the stored agents;
// the heartbeats with the run's record; COMMIT; the lease given back. A
// changed agent adds its COPY and the comparison. Each round trip costs
// both processes more CPU than most of the statements of such a sync.
func TestRoundTripsOfAnHourlyAgentsSync(t *testing.T) {
	t.Parallel()
	f := setup(t)
	l, _, rec := tracedLoader(t, f) // one connection: statements prepared by the first sync are reused
	clk := f.clock
	fleet := agents(40)
	for range 2 { // the first sync, then one of known agents: every statement prepared
		if _, err := l.Sync(context.Background(), listOf(fleet...)); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	steps := []struct {
		name   string
		change func(i int, r *scanagent.Record)
		want   int
	}{
		{"heartbeats moved", func(i int, r *scanagent.Record) { r.LastSeen = r.LastSeen.Add(time.Hour) }, 6},
		{"nothing moved", func(int, *scanagent.Record) {}, 6},
		{"an agent changed", func(i int, r *scanagent.Record) {
			if i == 7 {
				r.MDEClientVersion = "10.8295.22621.2000"
			}
		}, 9},
	}
	for _, s := range steps {
		for i := range fleet {
			s.change(i, &fleet[i])
		}
		rec.takeTrips()
		res, err := l.Sync(context.Background(), listOf(fleet...))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if sent := rec.takeTrips(); len(sent) != s.want {
			t.Errorf("%s (%+v): %d round trips, want %d:\n  %s", s.name, res, len(sent), s.want, strings.Join(sent, "\n  "))
		}
		clk.Advance(time.Hour)
	}
}

// TestRoundTripsOfHourlyScanSyncs: an hourly sync of a tenant's scan
// definitions, none changed, waits for the server seven times, and one of
// its scan history six when nothing new is listed, each alone (the lease
// taken and given back are two of them). One new session adds its COPY,
// the comparison, the reading by id and its comparison (and here the
// ANALYZE of work tables that a truncation emptied).
func TestRoundTripsOfHourlyScanSyncs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	l, _, rec := tracedLoader(t, f)
	clk := f.clock
	ctx := context.Background()
	defs := definitions(3)
	h := &history{}
	for i, d := range defs {
		h.sessions = append(h.sessions, session(d, 1, t0.Add(-time.Duration(i+1)*time.Hour), [2]string{fmt.Sprintf("10.0.%d.1", i), "Success"}))
	}
	for range 2 {
		if _, err := l.Sync(ctx, listOf(agents(5)...)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.SyncHistory(ctx, h); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	for _, s := range []struct {
		name string
		sync func() error
		want int
	}{
		{"definitions unchanged", func() error { _, err := l.SyncDefinitions(ctx, definitionsOf(defs...)); return err }, 7},
		{"history, nothing new", func() error { _, err := l.SyncHistory(ctx, h); return err }, 6},
		{"history, a new session", func() error {
			h.mu.Lock()
			h.sessions = append([]scanagent.ScanSession{session(defs[0], 2, clk.Now().Add(-time.Minute), [2]string{"10.0.0.1", "Success"})}, h.sessions...)
			h.mu.Unlock()
			_, err := l.SyncHistory(ctx, h)
			return err
		}, 13},
	} {
		rec.takeTrips()
		if err := s.sync(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if sent := rec.takeTrips(); len(sent) != s.want {
			t.Errorf("%s: %d round trips, want %d:\n  %s", s.name, len(sent), s.want, strings.Join(sent, "\n  "))
		}
		clk.Advance(time.Hour)
	}
}
