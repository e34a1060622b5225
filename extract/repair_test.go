package extract

import (
	"strings"
	"testing"

	"github.com/agentsync/agentsync/extract/defendertest"
)

func TestNeedsRepair(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		`"plain"`:                        false,
		`"caf\u00e9 \u20ac"`:             false,
		`"\ud83d\ude00 a pair"`:          false,
		`"\\u0000 is text, not NUL"`:     false,
		`"\\\ud800"`:                     true,
		`"a\u0000b"`:                     true,
		`"lone \ud800 high"`:             true,
		`"lone \udfff low"`:              true,
		`"high then text \ud800x"`:       true,
		`"high then high \ud800\ud800"`:  true,
		"\"latin1 caf\xe9\"":             true,
		`{"k\u0000": 1}`:                 true,
		`[1, "ok", {"a": "\"quoted\""}]`: false,
		`12345`:                          false,
	} {
		if got := needsRepair([]byte(raw)); got != want {
			t.Errorf("needsRepair(%s) = %v, want %v", raw, got, want)
		}
	}
}

// TestListReportsRepairedFields: the fields repaired to be stored are
// counted, and named with their agents' ids in one line per listing,
// without their values.
func TestListReportsRepairedFields(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"id":"a","computerDnsName":"host\u0000one","tag":"v\u0000secretvalue"},
		{"id":"b","computerDnsName":"clean"},
		{"id":"c","machineId":"m` + "\xff" + `"}]}`)))
	got, st, err := f.list(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ComputerDNSName != "hostone" {
		t.Fatalf("records %+v: every agent is kept, repaired", got)
	}
	if st.FieldsRepaired != 3 || strings.Join(st.RepairedFields, ",") != "computerDnsName,extra.tag,machineId" || strings.Join(st.RepairedIDs, ",") != "a,c" {
		t.Errorf("stats %+v, want 3 fields of agents a and c", st)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "repaired fields PostgreSQL cannot store as sent"); n != 1 {
		t.Errorf("%d lines about repaired fields, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"fields_repaired":3`) || !strings.Contains(logs, `"ids":["a","c"]`) || strings.Contains(logs, "secretvalue") {
		t.Errorf("the line about repairs lacks its count or ids, or quotes a value:\n%s", logs)
	}
}
