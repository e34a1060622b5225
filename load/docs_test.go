package load_test

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestSchemaDocQueriesRun runs every SQL example of docs/schema.md against
// a database holding a few syncs, so that the documentation stays true.
func TestSchemaDocQueriesRun(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d SQL examples in docs/schema.md, want the documented ones", len(blocks))
	}

	f := setup(t)
	recs := agents(12)
	f.sync(t, listOf(recs...))
	f.clock.Advance(24 * time.Hour)
	recs[0].MDEClientVersion = "10.8295.22621.1195"
	recs[1].LastSeen = recs[1].LastSeen.Add(48 * time.Hour)
	f.sync(t, listOf(recs[:11]...))

	for _, b := range blocks {
		rows, err := f.pool.Query(context.Background(), b[1])
		if err != nil {
			t.Errorf("query failed: %v\n%s", err, b[1])
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("query failed: %v\n%s", err, b[1])
		}
	}
}
