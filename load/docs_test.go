package load_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/scanagent"
)

// TestDocQueriesRunAsReader runs every SQL example of docs/schema.md and the
// README against a database holding a few days of syncs, logged in as a
// member of defender_reader: the documentation stays true, and everything
// it shows is within the reporting role's reach.
func TestDocQueriesRunAsReader(t *testing.T) {
	t.Parallel()
	var blocks []string
	for _, file := range []string{"../docs/schema.md", "../README.md"} {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
		if len(found) == 0 {
			t.Fatalf("%s has no SQL example", file)
		}
		for _, b := range found {
			// A block may hold several statements, each ending a line.
			for _, stmt := range regexp.MustCompile(`;\s*\n`).Split(b[1]+"\n", -1) {
				if strings.TrimSpace(stmt) != "" {
					blocks = append(blocks, stmt)
				}
			}
		}
	}
	if len(blocks) < 24 {
		t.Fatalf("found %d SQL examples, want the documented ones", len(blocks))
	}

	f := setup(t)
	recs := agents(12)
	f.sync(t, listOf(recs...))
	f.clock.Advance(24 * time.Hour)
	recs[0].MDEClientVersion = "10.8295.22621.1195"
	recs[1].LastSeen = recs[1].LastSeen.Add(48 * time.Hour)
	f.sync(t, listOf(recs[:11]...))
	f.clock.Advance(time.Hour)
	recs[2].LastSeen = recs[2].LastSeen.Add(time.Hour)
	f.sync(t, listOf(recs[:11]...))
	// Scan definitions, edited once, and their history.
	defs := definitions(3)
	f.syncDefinitions(t, definitionsOf(defs...))
	f.clock.Advance(time.Hour)
	defs[1].ScannerAgentID = recs[4].ID
	f.syncDefinitions(t, definitionsOf(defs...))
	now := f.clock.Now()
	f.syncHistory(t, &history{sessions: []scanagent.ScanSession{
		session(defs[0], 2, now.Add(-time.Hour), [2]string{"10.0.0.1", "Failure"}),
		session(defs[1], 1, now.Add(-2*time.Hour), [2]string{"10.0.0.1", "Success"}, [2]string{"10.0.0.2", "Success"}),
		session(defs[0], 1, now.Add(-5*time.Hour), [2]string{"10.0.0.1", "Success"}),
	}})

	reader := dbtest.ReaderPool(t, f.url)
	for _, b := range blocks {
		rows, err := reader.Query(context.Background(), b)
		if err != nil {
			t.Errorf("query failed: %v\n%s", err, b)
			continue
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			t.Errorf("query failed: %v\n%s", err, b)
		}
	}
}
