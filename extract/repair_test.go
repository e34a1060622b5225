package extract

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
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
	checkRepairs(t, st, f.logs.String(), "agents", 3, "computerDnsName,extra.tag,machineId", `"a","c"`)
}

// checkRepairs checks a reading's repairs: n fields named fields (joined
// by commas) of the records ids (as JSON strings joined by commas), in
// st and in one line of logs about what, which quotes no value.
func checkRepairs(t *testing.T, st scanagent.ListStats, logs, what string, n int, fields, ids string) {
	t.Helper()
	if st.FieldsRepaired != n || strings.Join(st.RepairedFields, ",") != fields || `"`+strings.Join(st.RepairedIDs, `","`)+`"` != ids {
		t.Errorf("stats %+v, want %d fields %s of %s", st, n, fields, ids)
	}
	if c := strings.Count(logs, "repaired fields PostgreSQL cannot store as sent"); c != 1 || !strings.Contains(logs, what+": repaired fields") {
		t.Errorf("%d lines about repaired fields, want 1 about the %s:\n%s", c, what, logs)
	}
	if !strings.Contains(logs, fmt.Sprintf(`"fields_repaired":%d`, n)) || !strings.Contains(logs, `"ids":[`+ids+`]`) || strings.Contains(logs, "secretvalue") {
		t.Errorf("the line about repairs lacks its count or ids, or quotes a value:\n%s", logs)
	}
}

// TestListDefinitionsReportsRepairedFields: a scan definition's fields
// repaired to be stored are counted and named as an agent's; what a
// definition does not keep (its credentials, its orgId) counts for none.
func TestListDefinitionsReportsRepairedFields(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"id":"d-1","scanName":"weekly\u0000scan","target":"10.0.0.0/24","note":"a` + "\xff" + `",
		 "scanAuthenticationParams":{"@odata.type":"#x.WindowsAuthParams","password":"pw\u0000secretvalue"},
		 "password":"pw\u0000secretvalue","orgId":"org\u0000"},
		{"id":"d-2","scanName":"clean"}]}`)).On(defendertest.DefinitionsPath))
	got, st, err := f.definitions(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "weeklyscan" {
		t.Fatalf("definitions %+v: every definition is kept, repaired", got)
	}
	checkRepairs(t, st, f.logs.String(), "scan definitions", 2, "extra.note,scanName", `"d-1"`)
}

// TestHistoryReportsRepairedFields: the fields of sessions and of their
// targets repaired to be stored are counted by each reading of the
// history, which logs none of them (the reading by session counts only
// the targets', the sessions' are counted once); History, which reads
// both, logs them in one line.
func TestHistoryReportsRepairedFields(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(
		defendertest.RawBody([]byte(`{"value":[{"id":"def-1","scanName":"n"}]}`)).On(defendertest.DefinitionsPath),
		defendertest.RawBody([]byte(`{"value":[
			{"scanDefinitionId":"def-1","sessionId":"s-1","lastScanned":"2025-09-01T10:00:00Z","generalErrorMessage":"timed\u0000out"},
			{"scanDefinitionId":"def-1","sessionId":"s-2","lastScanned":"2025-09-01T09:00:00Z","scanStatus":"ok"}]}`)).On(defendertest.HistoryByDefinitionPath),
		defendertest.RawBody([]byte(`{"value":[
			{"scanDefinitionId":"def-1","sessionId":"s-1","lastScanned":"2025-09-01T10:00:00Z","generalErrorMessage":"timed\u0000out",
			 "scannedTargets":[{"ip":"10.0.0.1","hostname":"host`+"\xff"+`"},{"ip":"10.0.0.2","hostname":"ok","vendor":"x\u0000y"}]},
			{"scanDefinitionId":"def-1","sessionId":"s-2","lastScanned":"2025-09-01T09:00:00Z","scanStatus":"ok","scannedTargets":[]}]}`)).On(defendertest.HistoryBySessionPath))
	var got []scanagent.ScanSession
	st, err := f.client.History(context.Background(), time.Time{}, func(s scanagent.ScanSession) error {
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].GeneralError != "timedout" || got[0].ScannedTargets[0].Hostname != "host\uFFFD" {
		t.Fatalf("sessions %+v: every session is kept, repaired", got)
	}
	checkRepairs(t, st, f.logs.String(), "scan history", 3, "generalErrorMessage,scannedTargets.extra.vendor,scannedTargets.hostname", `"s-1"`)
}
