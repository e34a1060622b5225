package extract

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
)

var fleetStart = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)

// wantRecords is what a listing of agents should hand on.
func wantRecords(agents []defendertest.Agent) []scanagent.Record {
	out := make([]scanagent.Record, len(agents))
	for i, a := range agents {
		out[i] = a.Record()
	}
	return out
}

func sameRecords(t *testing.T, got, want []scanagent.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, g, w)
		}
		if !got[i].LastSeen.IsZero() && got[i].LastSeen.Location() != time.UTC {
			t.Fatalf("record %d: LastSeen in %v, want UTC", i, got[i].LastSeen.Location())
		}
	}
}

func TestListFollowsPagesInEveryCasing(t *testing.T) {
	t.Parallel()
	fleet := defendertest.NewFleet(7, 500, fleetStart)
	at := fleetStart.Add(20 * 24 * time.Hour)
	for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingCamel, defendertest.CasingPascal, defendertest.CasingSnake, defendertest.CasingMixed} {
		t.Run(casing.String(), func(t *testing.T) {
			t.Parallel()
			f := setup(t, []defendertest.Option{defendertest.WithFleet(fleet, at), defendertest.WithPageSize(37), defendertest.WithCasing(casing)}, nil)
			want := wantRecords(f.tenant.Agents())
			got, st, err := f.list(t)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			sameRecords(t, got, want)
			pages := (len(want) + 36) / 37
			if !reflect.DeepEqual(st, scanagent.ListStats{Requests: pages, Pages: pages, Agents: len(want)}) {
				t.Fatalf("stats %+v, want %d pages and requests, %d agents", st, pages, len(want))
			}
		})
	}
}
