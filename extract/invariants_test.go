package extract

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agentsync/agentsync/scanagent"
)

// checkInvariants asserts what the loader relies on for every record:
// an id that is non-empty valid UTF-8 without NUL, storable strings and
// Extra, times in UTC truncated to microseconds, and a JSON encoding.
func checkInvariants(t testing.TB, recs []scanagent.Record) {
	t.Helper()
	for i, r := range recs {
		if r.ID == "" {
			t.Fatalf("record %d: empty id", i)
		}
		for _, s := range []string{r.ID, r.MachineID, r.ComputerDNSName, r.AssignedApplicationID, string(r.ScannerSoftwareVersion), string(r.MDEClientVersion)} {
			if !storable(s) {
				t.Fatalf("record %d: field %q is not storable text", i, s)
			}
		}
		for _, ts := range []time.Time{r.LastSeen, r.LastCommandExecutionAt} {
			if ts.IsZero() {
				continue
			}
			if ts.Location() != time.UTC || !ts.Equal(ts.Truncate(time.Microsecond)) || ts.Year() > 9999 || ts.Year() < 1 {
				t.Fatalf("record %d: time %v is not UTC microseconds within years 1-9999", i, ts)
			}
		}
		for k, v := range r.Extra {
			if !storable(k) || !jsonbStorable(v) {
				t.Fatalf("record %d: Extra %q: %q is not storable JSON", i, k, v)
			}
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("record %d: cannot encode: %v", i, err)
		}
	}
}

func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// jsonbStorable reports whether PostgreSQL's jsonb accepts v: valid JSON in
// valid UTF-8, with no \u0000 escape and no unpaired surrogate escape.
func jsonbStorable(v []byte) bool {
	if !utf8.Valid(v) || !json.Valid(v) {
		return false
	}
	surrogate := func(i int) (uint64, bool) { // the \uXXXX at v[i:], if a surrogate
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 16)
		return n, err == nil && n >= 0xd800 && n <= 0xdfff
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		if v[i+1] != 'u' {
			i++ // a two-character escape such as \\ or \"
			continue
		}
		if string(v[i+2:i+6]) == "0000" {
			return false
		}
		if hi, ok := surrogate(i); ok {
			lo, ok := surrogate(i + 6)
			if hi >= 0xdc00 || !ok || lo < 0xdc00 {
				return false
			}
			i += 6
		}
		i += 5
	}
	return true
}

func TestJSONBStorable(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		`"plain"`:             true,
		`"\\u0000"`:           true, // a backslash, then text
		`"\u0000"`:            false,
		`"\ud83d\ude00"`:      true,
		`"\ud83d"`:            false,
		`"\ude00"`:            false,
		`{"k\u0000":1}`:       false,
		`["\\", "\ud800x"]`:   false,
		"\"\xff\"":            false,
		`{"a":"b\"\\\u00e9"}`: true,
	} {
		if got := jsonbStorable([]byte(v)); got != want {
			t.Errorf("jsonbStorable(%s) = %v, want %v", v, got, want)
		}
	}
}
