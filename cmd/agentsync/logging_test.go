package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
)

// jsonKeys returns the top-level keys of the JSON object line, in order,
// repeated ones included.
func jsonKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %q", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	return keys
}

// duplicateKey returns a key that line has twice, "" when none.
func duplicateKey(t *testing.T, line string) string {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range jsonKeys(t, line) {
		if seen[k] {
			return k
		}
		seen[k] = true
	}
	return ""
}

func TestLogLinesNeverRepeatAKey(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var b bytes.Buffer
		logger, err := newLogger(&b, logSettings{Format: format, Level: "debug"})
		if err != nil {
			t.Fatal(err)
		}
		logger = logger.With("tenant", "contoso.com", "tenant", "again")
		logger.Warn("deletions withheld", "tenant", "contoso.com", "run_id", 7, "run_id", 8)
		logger.WithGroup("g").Info("grouped", "tenant", "inside", "n", 1)
		line, grouped, _ := strings.Cut(b.String(), "\n")
		if format == "json" {
			if k := duplicateKey(t, line); k != "" {
				t.Errorf("json: %q has %q twice", line, k)
			}
			if !strings.Contains(line, `"tenant":"contoso.com"`) || !strings.Contains(line, `"run_id":7`) {
				t.Errorf("json: %q lost the first values", line)
			}
			if !strings.Contains(grouped, `"tenant":"contoso.com","g":{"tenant":"inside","n":1}`) {
				t.Errorf("json: a group's keys are its own: %q", grouped)
			}
			continue
		}
		if strings.Count(line, "tenant=") != 1 || strings.Count(line, "run_id=") != 1 {
			t.Errorf("text: %q repeats a key", line)
		}
	}
}

// TestSyncLogsEachKeyOnce: every JSON log line of a sync, the tenant's
// warnings included, has each key once.
func TestSyncLogsEachKeyOnce(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	agents := defendertest.NewFleet(8, 20, start).AgentsAt(start)
	tenant := defendertest.NewServer(defendertest.WithAgents(agents), defendertest.WithPageSize(6))
	t.Cleanup(tenant.Close)
	env := fetchEnv(tenant)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["LOG_FORMAT"], env["LOG_LEVEL"] = "json", "debug"
	if code, _, stderr := runCLI(t, env, "sync"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s", code, stderr)
	}
	unidentified := append([]defendertest.Agent(nil), agents...)
	unidentified[3].ID = "" // sent as "id": null: the deletions are withheld, with a warning
	tenant.SetAgents(unidentified)
	code, _, stderr := runCLI(t, env, "sync", "--no-migrate")
	if code != exitOK {
		t.Fatalf("second sync: exit %d\n%s", code, stderr)
	}
	lines, warned := 0, false
	dec := json.NewDecoder(strings.NewReader(stderr))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("stderr is not JSON lines: %v\n%s", err, stderr)
		}
		lines++
		line := string(raw)
		if k := duplicateKey(t, line); k != "" {
			t.Errorf("log line with %q twice: %s", k, line)
		}
		if strings.Contains(line, "deletions withheld") {
			warned = true
			if !strings.Contains(line, `"tenant":"`) {
				t.Errorf("the warning lost its tenant: %s", line)
			}
		}
	}
	if lines < 5 || !warned {
		t.Errorf("%d log lines, warning of the withheld deletions: %v; want the sync's lines:\n%s", lines, warned, stderr)
	}
}
