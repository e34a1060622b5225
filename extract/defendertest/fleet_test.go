package defendertest

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var start = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)

func TestFleetIsDeterministic(t *testing.T) {
	t.Parallel()
	at := start.Add(17*day + 5*time.Hour)
	a := NewFleet(42, 2000, start).AgentsAt(at)
	b := NewFleet(42, 2000, start).AgentsAt(at)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and time gave different agents")
	}
	if c := NewFleet(43, 2000, start).AgentsAt(at); reflect.DeepEqual(a, c) {
		t.Fatal("another seed gave the same agents")
	}
	// The state at a time does not depend on the times asked before.
	f := NewFleet(42, 2000, start)
	f.AgentsAt(start.Add(40 * day))
	if !reflect.DeepEqual(f.AgentsAt(at), a) {
		t.Fatal("asking for a later time first changed the agents")
	}
}

// byID indexes agents by id.
func byID(agents []Agent) map[string]Agent {
	m := make(map[string]Agent, len(agents))
	for _, a := range agents {
		m[a.ID] = a
	}
	return m
}

func TestFleetDrifts(t *testing.T) {
	t.Parallel()
	const n = 5000
	f := NewFleet(1, n, start)
	count := func(agents []Agent, pred func(Agent) bool) int {
		c := 0
		for _, a := range agents {
			if pred(a) {
				c++
			}
		}
		return c
	}
	clientAt := func(v string) func(Agent) bool { return func(a Agent) bool { return a.MDEClientVersion == v } }

	// The client rollout comes in waves over weeks, never all at once.
	for _, tc := range []struct {
		day        int
		v1, v2, v3 [2]float64 // the share of agents on each version is within these bounds
	}{
		{0, [2]float64{0.7, 0.95}, [2]float64{0.05, 0.3}, [2]float64{0, 0}},
		{7, [2]float64{0.3, 0.7}, [2]float64{0.3, 0.7}, [2]float64{0, 0}},
		{30, [2]float64{0, 0.15}, [2]float64{0.3, 0.8}, [2]float64{0.2, 0.7}},
		{60, [2]float64{0, 0.15}, [2]float64{0.05, 0.3}, [2]float64{0.7, 0.95}},
	} {
		agents := f.AgentsAt(start.Add(time.Duration(tc.day) * day))
		for i, v := range []string{ClientVersion1, ClientVersion2, ClientVersion3} {
			bounds := [][2]float64{tc.v1, tc.v2, tc.v3}[i]
			share := float64(count(agents, clientAt(v))) / float64(len(agents))
			if share < bounds[0] || share > bounds[1] {
				t.Errorf("day %d: %.2f of agents on %s, want %.2f to %.2f", tc.day, share, v, bounds[0], bounds[1])
			}
		}
	}
	scanner := func(d int) float64 {
		agents := f.AgentsAt(start.Add(time.Duration(d) * day))
		return float64(count(agents, func(a Agent) bool { return a.ScannerSoftwareVersion == ScannerVersion2 })) / float64(len(agents))
	}
	if s0, s14, s40 := scanner(0), scanner(14), scanner(40); !(s0 < 0.2 && s14 > 0.3 && s14 < 0.8 && s40 > 0.85) {
		t.Errorf("scanner 7.6.0.0 share: %.2f, %.2f, %.2f on days 0, 14, 40", s0, s14, s40)
	}

	// Between two syncs a day apart: most agents check in again, some go
	// stale, some vanish and come back, new ones appear.
	d10, d11, d40 := f.AgentsAt(start.Add(10*day)), f.AgentsAt(start.Add(11*day)), f.AgentsAt(start.Add(40*day))
	m10, m11, m40 := byID(d10), byID(d11), byID(d40)
	advanced, frozen, appeared, gone, returned := 0, 0, 0, 0, 0
	for id, a := range m11 {
		before, ok := m10[id]
		switch {
		case !ok:
			appeared++
		case a.LastSeen.After(before.LastSeen):
			advanced++
		case a.LastSeen.Equal(before.LastSeen):
			frozen++
		}
		if a.LastSeen.After(start.Add(11 * day)) {
			t.Fatalf("agent %s seen in the future: %v", id, a.LastSeen)
		}
	}
	for id := range m10 {
		if _, ok := m11[id]; !ok {
			gone++
			if _, back := m40[id]; back {
				returned++
			}
		}
	}
	if advanced < len(d11)*8/10 || frozen == 0 || appeared == 0 || gone == 0 {
		t.Errorf("day 10 to 11: %d advanced, %d frozen, %d appeared, %d gone of %d", advanced, frozen, appeared, gone, len(d11))
	}
	// Some agents vanish for a while and come back.
	m0, m55 := byID(f.AgentsAt(start)), byID(f.AgentsAt(start.Add(55*day)))
	away := map[string]bool{}
	for d := 1; d <= 50; d++ {
		present := byID(f.AgentsAt(start.Add(time.Duration(d) * day)))
		for id := range m0 {
			if _, ok := present[id]; !ok {
				away[id] = true
			}
		}
	}
	for id := range away {
		if _, ok := m55[id]; ok {
			returned++
		}
	}
	if returned < n/100 {
		t.Errorf("%d agents vanished and came back between days 1 and 55", returned)
	}
	if len(d40) <= len(d10)*8/10 {
		t.Errorf("%d agents on day 40, %d on day 10", len(d40), len(d10))
	}

	// Timestamps carry up to seven fractional digits, .NET's precision,
	// and some whole seconds; some agents never ran a command.
	digits := map[int]int{}
	never, renamed, extras := 0, 0, 0
	for _, a := range d40 {
		frac := a.LastSeen.Nanosecond()
		if frac%100 != 0 {
			t.Fatalf("agent %s: lastSeen %v is finer than 100ns", a.ID, a.LastSeen)
		}
		digits[len(strings.TrimRight(strings.TrimPrefix(a.LastSeen.Format(".0000000"), "."), "0"))]++
		if a.LastCommandExecution.IsZero() {
			never++
		} else if a.LastCommandExecution.After(a.LastSeen) {
			t.Fatalf("agent %s ran a command after it was last seen", a.ID)
		}
		if strings.Contains(a.ComputerDNSName, ".ad.") {
			renamed++
		}
		if len(a.Extra) > 0 {
			extras++
		}
	}
	if digits[7] == 0 || digits[0] == 0 || never == 0 || renamed == 0 || extras == 0 {
		t.Errorf("day 40: fraction digits %v, %d never ran a command, %d renamed, %d with extra fields", digits, never, renamed, extras)
	}
}

func TestFleetIsCheapAtScale(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds 100,000 agents")
	}
	f := NewFleet(9, 100_000, start)
	agents := f.AgentsAt(start.Add(3 * day))
	if len(agents) < 90_000 || f.Len() != 100_000 {
		t.Fatalf("%d agents listed of %d", len(agents), f.Len())
	}
}

func BenchmarkFleet(b *testing.B) {
	f := NewFleet(9, 100_000, start)
	b.ReportAllocs()
	for b.Loop() {
		f.AgentsAt(start.Add(3 * day))
	}
}
