package extract

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/scanagent"
)

// scanTestdata holds bodies of the scan definitions and history endpoints
// (the vendor's published examples verbatim among them, see its README)
// and what the extractor makes of each.
const scanTestdata = "../testdata/api/scans"

// goldenScanPage is what one body of a scan endpoint turns into.
type goldenScanPage struct {
	NextLink    string                     `json:"next_link,omitempty"`
	Stats       scanagent.ListStats        `json:"stats"`
	Definitions []scanagent.ScanDefinition `json:"definitions,omitempty"`
	Sessions    []scanagent.ScanSession    `json:"sessions,omitempty"`
	Warnings    []map[string]any           `json:"warnings,omitempty"`
	Error       string                     `json:"error,omitempty"`
}

// decodeScanGolden runs body through the path its endpoint takes in a
// listing: definitions-* as the definitions listing, history-* as a
// history action.
func decodeScanGolden(t *testing.T, name string, body []byte) goldenScanPage {
	t.Helper()
	var logs bytes.Buffer
	c := &Client{log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})), obs: NopObserver{}}
	resp := &response{status: 200, contentType: "application/json; odata.metadata=minimal", body: body}
	var g goldenScanPage
	var err error
	switch {
	case strings.HasPrefix(name, "definitions-"):
		r := definitionReader{c: c, seen: idset.New(), fn: func(d scanagent.ScanDefinition) error {
			g.Definitions = append(g.Definitions, d)
			return nil
		}}
		_, g.NextLink, err = c.decodeResponse(definitionsCollection(c, &r), 1, resp, r.element)
		g.Stats = r.st
	case strings.HasPrefix(name, "history-"):
		r := &sessionReader{c: c, seen: idset.New(), fn: func(s scanagent.ScanSession) error {
			g.Sessions = append(g.Sessions, s)
			return nil
		}}
		r.startBatch()
		_, g.NextLink, err = c.decodeResponse(collection{}, 1, resp, r.element)
		g.Stats = r.st
	default:
		t.Fatalf("%s: name it definitions-* or history-*", name)
	}
	if err != nil {
		g.Error = err.Error()
	}
	dec := json.NewDecoder(&logs)
	for dec.More() {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("log line: %v", err)
		}
		g.Warnings = append(g.Warnings, line)
	}
	return g
}

// TestGoldenScanBodies: each vendor example that reads once trailing
// commas are removed gives the expected rows, and the ones broken beyond
// that give a clear error that quotes nothing of the body.
func TestGoldenScanBodies(t *testing.T) {
	t.Parallel()
	bodies, err := filepath.Glob(filepath.Join(scanTestdata, "bodies", "*.json"))
	if err != nil || len(bodies) == 0 {
		t.Fatalf("no bodies under %s: %v", scanTestdata, err)
	}
	for _, path := range bodies {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			g := decodeScanGolden(t, name, body)
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			// The vendor's example echoes credentials: none may survive.
			for _, secret := range []string{"authPassword\"", "privPassword\"", "community-string", "\"username\"", "\"password\""} {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("%s: the decoded page shows %s", name, secret)
				}
			}
			wantPath := filepath.Join(scanTestdata, "want", name)
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run go test ./extract -run TestGoldenScanBodies -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (rerun with -update if the change is intended):\n%s", name, wantPath, got)
			}
		})
	}
}
