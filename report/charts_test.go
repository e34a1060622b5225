package report

import (
	"testing"
)

// TestValueAxesHaveRoundTicksThatFitTheData: at least four labels, round
// steps, the last one the first at or above the data.
func TestValueAxesHaveRoundTicksThatFitTheData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		top         float64
		step, steps float64
	}{
		{289, 100, 3}, // was 0 and 500
		{0, 1, 3},
		{1, 1, 3},
		{5, 1, 5},
		{6, 2, 3},
		{40, 10, 4},
		{301, 100, 4},
		{501, 200, 3},
		{1999, 500, 4},
	} {
		step, steps := niceSteps(tc.top)
		if step != tc.step || float64(steps) != tc.steps {
			t.Errorf("axis up to %v: %d steps of %v; want %v of %v", tc.top, steps, step, tc.steps, tc.step)
		}
		if steps+1 < minTicks || float64(steps)*step < tc.top {
			t.Errorf("axis up to %v: %d steps of %v do not fit", tc.top, steps, step)
		}
	}
}

// TestVersionColoursGoByDistanceFromTheNewest: a version's colour depends
// only on the versions newer than it, so a report with an older version
// more colours the others alike; the newest takes the strongest.
func TestVersionColoursGoByDistanceFromTheNewest(t *testing.T) {
	t.Parallel()
	short := versionColors([]string{"1.2", "1.3", "1.10"})
	long := versionColors([]string{"0.9", "1.0", "1.1", "1.2", "1.3", "1.10", "2.0"})
	if short["1.10"] != versionShades[0] || long["2.0"] != versionShades[0] {
		t.Errorf("the newest versions are %s and %s, want %s", short["1.10"], long["2.0"], versionShades[0])
	}
	withOlder := versionColors([]string{"1.1", "1.2", "1.3", "1.10"})
	for v, c := range short {
		if withOlder[v] != c {
			t.Errorf("version %s is %s, and %s beside an older version", v, c, withOlder[v])
		}
	}
	seen := map[string]string{}
	for v, c := range long {
		if other, ok := seen[c]; ok && (c != versionGreys[0] && c != versionGreys[1]) {
			t.Errorf("versions %s and %s share colour %s", v, other, c)
		}
		seen[c] = v
	}
}

func TestTenantFilesAreSafeAndUnique(t *testing.T) {
	t.Parallel()
	got := tenantFiles([]Tenant{{ID: "contoso.example"}, {ID: "../etc/passwd"}, {ID: "a/b"}, {ID: "a_b"}, {ID: "index"}})
	want := []string{"tenant-contoso.example.html", "tenant-.._etc_passwd.html", "tenant-a_b.html", "tenant-a_b-2.html", "tenant-index.html"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("file of tenant %d: %q, want %q", i, got[i], want[i])
		}
	}
}
