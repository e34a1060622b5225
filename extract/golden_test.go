package extract

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/scanagent"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/api/want")

// apiTestdata is the repository's testdata/api: bodies/ holds API response
// bodies (the vendor's published example verbatim among them), want/ what
// the extractor makes of each.
const apiTestdata = "../testdata/api"

// goldenPage is what one page body turns into: the records handed on, the
// warnings logged, the listing's counts, the nextLink, or the error.
type goldenPage struct {
	NextLink string              `json:"next_link,omitempty"`
	Stats    scanagent.ListStats `json:"stats"`
	Records  []scanagent.Record  `json:"records"`
	Warnings []map[string]any    `json:"warnings,omitempty"`
	Error    string              `json:"error,omitempty"`
}

// decodeGolden runs body through the same path as List does for one page.
func decodeGolden(t *testing.T, body []byte, contentType string) goldenPage {
	t.Helper()
	var logs bytes.Buffer
	handler := slog.NewJSONHandler(&logs, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	})
	c := &Client{log: slog.New(handler), obs: NopObserver{}}
	var g goldenPage
	g.Records = []scanagent.Record{}
	link, err := c.handOn(1, &response{status: 200, contentType: contentType, body: body}, &g.Stats, idset.New(),
		func(r scanagent.Record) error {
			g.Records = append(g.Records, r)
			return nil
		})
	g.NextLink = link
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

func TestGoldenPages(t *testing.T) {
	t.Parallel()
	bodies, err := filepath.Glob(filepath.Join(apiTestdata, "bodies", "*"))
	if err != nil || len(bodies) == 0 {
		t.Fatalf("no bodies under %s: %v", apiTestdata, err)
	}
	for _, path := range bodies {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			contentType := "application/json; odata.metadata=minimal"
			if strings.HasSuffix(name, ".html") {
				contentType = "text/html; charset=utf-8"
			}
			g := decodeGolden(t, body, contentType)
			checkInvariants(t, g.Records)
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got = append(got, '\n')
			wantPath := filepath.Join(apiTestdata, "want", strings.TrimSuffix(name, filepath.Ext(name))+".json")
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run go test ./extract -run TestGoldenPages -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (rerun with -update if the change is intended):\n%s", name, wantPath, got)
			}
		})
	}
}
