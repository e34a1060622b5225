package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/report"
)

// TestVerifyTellsWhatRetentionDropped: a chain verified through runs
// RUN_RETENTION dropped says how many, after the runs verified, in text
// and in JSON.
func TestVerifyTellsWhatRetentionDropped(t *testing.T) {
	chains := []load.ChainVerification{{TenantID: "contoso.com", Resource: "definitions", Runs: 40, RunsDropped: 660,
		HeadRunID: 9001, HeadFetchedAt: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), HeadDigest: "41d0"}}
	var text bytes.Buffer
	if err := report.WriteVerifyText(&text, chains); err != nil {
		t.Fatal(err)
	}
	want := "contoso.com definitions: 40 runs verified, chain head 41d0 (run 9001, fetched 2026-06-01T10:00:00Z)\n" +
		"  and 660 runs dropped by RUN_RETENTION, whose digests the chain was recomputed through\n"
	if !strings.HasPrefix(text.String(), want) {
		t.Errorf("text:\n%s\nwant it to begin with:\n%s", text.String(), want)
	}
	var out bytes.Buffer
	if err := report.WriteVerifyJSON(&out, chains); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Chains []struct {
			RunsVerified int `json:"runs_verified"`
			RunsDropped  int `json:"runs_dropped"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Chains) != 1 || got.Chains[0].RunsVerified != 40 || got.Chains[0].RunsDropped != 660 {
		t.Errorf("json: %s", out.String())
	}
}
