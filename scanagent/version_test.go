package scanagent

import (
	"slices"
	"testing"
)

func TestVersionCompareOrdersNumerically(t *testing.T) {
	t.Parallel()
	ordered := []Version{
		"7.1.1",
		"7.1.1.1",
		"7.6.0.0",
		"10.8295.22621.1010",
		"10.8295.22621.1195",
		"10.10000.0.0",
		"beta",
		"x.1",
	}
	shuffled := []Version{"10.10000.0.0", "x.1", "7.6.0.0", "10.8295.22621.1195", "beta", "7.1.1.1", "10.8295.22621.1010", "7.1.1"}
	slices.SortFunc(shuffled, Version.Compare)
	if !slices.Equal(shuffled, ordered) {
		t.Fatalf("sorted = %q, want %q", shuffled, ordered)
	}
	for i := range ordered {
		if got := ordered[i].Compare(ordered[i]); got != 0 {
			t.Errorf("%q.Compare(itself) = %d", ordered[i], got)
		}
	}
	// Trailing zero parts do not count.
	for _, pair := range [][2]Version{{"7.6.0", "7.6.0.0"}, {"10", "10.0.0"}, {"7.1.1", "7.1.1.0"}} {
		if got := pair[0].Compare(pair[1]); got != 0 {
			t.Errorf("%q.Compare(%q) = %d, want 0", pair[0], pair[1], got)
		}
	}
	if got := Version("7.0.10").Compare("7.0.1"); got != 1 {
		t.Errorf("7.0.10 vs 7.0.1 = %d, want 1", got)
	}
}

func TestVersionPartsRejectsNonNumeric(t *testing.T) {
	t.Parallel()
	for _, v := range []Version{"", "1..2", "1.2.", ".1", "1.2a", "1.-2", "99999999999999999999999"} {
		if p, ok := v.Parts(); ok {
			t.Errorf("%q.Parts() = %v, true; want not ok", v, p)
		}
	}
	if p, ok := Version("10.8295.22621.1195").Parts(); !ok || !slices.Equal(p, []uint64{10, 8295, 22621, 1195}) {
		t.Errorf("Parts() = %v, %v", p, ok)
	}
}
