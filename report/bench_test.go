package report_test

import (
	"context"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/report"
)

// BenchmarkReport reads and renders the report of a month of 300 agents,
// as a member of defender_reader.
func BenchmarkReport(b *testing.B) {
	url := dbtest.URL(b)
	owner, err := pgxpool.New(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	synced := loadtest.Sync(b, owner, loadtest.Story{Agents: 300, Days: 30, FailDay: 15})
	owner.Close()
	reader := dbtest.ReaderPool(b, url)
	for b.Loop() {
		snap, err := report.Read(context.Background(), reader, report.Options{Now: synced.End})
		if err != nil {
			b.Fatal(err)
		}
		if err := report.WriteHTML(io.Discard, snap, "agentsync bench"); err != nil {
			b.Fatal(err)
		}
	}
}
