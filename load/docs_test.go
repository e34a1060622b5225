package load_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
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
	if len(blocks) < 14 {
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
