package extract

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/scanagent"
)

// benchPage is a body of one page of the listing, for the benchmarks.
type benchPage struct {
	name   string
	body   []byte
	agents int
}

// benchPages are one full page of 10,000 agents in mixed casings, the
// API's largest page: standard, and with a trailing comma, as in the
// vendor's example, which takes the standardizing path.
func benchPages() []benchPage {
	agents := defendertest.NewFleet(1, 10_000, fleetStart).AgentsAt(fleetStart.Add(30 * 24 * time.Hour))
	body := defendertest.RenderPage("https://api.security.microsoft.com", agents, defendertest.CasingMixed, "")
	return []benchPage{
		{"standard", body, len(agents)},
		{"trailing-comma", append(body[:len(body)-2:len(body)-2], ",]}"...), len(agents)},
	}
}

// BenchmarkDecodePage decodes and normalizes one full page of 10,000
// agents.
func BenchmarkDecodePage(b *testing.B) {
	for _, page := range benchPages() {
		b.Run(page.name, func(b *testing.B) {
			c := &Client{log: slog.New(slog.DiscardHandler), obs: NopObserver{}}
			b.SetBytes(int64(len(page.body)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				var st scanagent.ListStats
				if _, err := c.handOn(1, &response{status: 200, body: page.body}, &st, idset.New(), func(scanagent.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
				if st.Agents != page.agents {
					b.Fatalf("%d agents, want %d", st.Agents, page.agents)
				}
				n += st.Agents
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "agents/s")
		})
	}
}

// BenchmarkDecode decodes one full page of 10,000 agents without
// normalizing them: the JSON decoder's share of BenchmarkDecodePage.
func BenchmarkDecode(b *testing.B) {
	for _, page := range benchPages() {
		b.Run(page.name, func(b *testing.B) {
			b.SetBytes(int64(len(page.body)))
			b.ReportAllocs()
			for b.Loop() {
				elements := 0
				if _, err := decodePage(page.body, func(int, []member, string) error {
					elements++
					return nil
				}, false); err != nil {
					b.Fatal(err)
				}
				if elements != page.agents {
					b.Fatalf("%d elements, want %d agents", elements, page.agents)
				}
			}
		})
	}
}

// BenchmarkList lists 100,000 agents from a simulated tenant over HTTP, in
// pages of 10,000: the extractor's share of a large sync.
func BenchmarkList(b *testing.B) {
	fleet := defendertest.NewFleet(1, 100_000, fleetStart)
	srv := defendertest.NewServer(defendertest.WithFleet(fleet, fleetStart.Add(10*24*time.Hour)), defendertest.WithCasing(defendertest.CasingMixed))
	defer srv.Close()
	c, err := New(Config{
		TenantID: defendertest.DefaultTenantID, ClientID: defendertest.DefaultClientID, ClientSecret: defendertest.DefaultClientSecret,
		APIURL: srv.URL, TokenURL: srv.TokenURL(),
	}, WithHTTPClient(srv.Client()), WithRateBudget(RateBudget{}))
	if err != nil {
		b.Fatal(err)
	}
	want := len(srv.Agents())
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		st, err := c.List(context.Background(), func(scanagent.Record) error { return nil })
		if err != nil || st.Agents != want {
			b.Fatalf("List: %+v, %v; want %d agents", st, err, want)
		}
		n += st.Agents
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "agents/s")
}

// BenchmarkDecodeSessions decodes and normalizes one page of 1,000
// sessions with their targets, as the history by session sends them in
// the vendor's casing (trailing comma included).
func BenchmarkDecodeSessions(b *testing.B) {
	fleet := defendertest.NewFleet(1, 2000, fleetStart)
	at := fleetStart.Add(30 * 24 * time.Hour)
	var ids []string
	for _, d := range fleet.DefinitionsAt(at) {
		ids = append(ids, d.ID)
	}
	sessions := fleet.SessionsAt(at, ids)[:1000]
	body := defendertest.RenderHistory("https://api.security.microsoft.com", defendertest.HistoryBySessionPath, sessions, defendertest.CasingVendor, true, true, "org", "")
	c := &Client{log: slog.New(slog.DiscardHandler), obs: NopObserver{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := &sessionReader{c: c, seen: idset.New(), fn: func(scanagent.ScanSession) error { return nil }}
		r.startBatch()
		if _, _, err := c.decodeResponse(collection{}, 1, &response{status: 200, body: body}, r.element); err != nil {
			b.Fatal(err)
		}
		if r.st.Agents != len(sessions) {
			b.Fatalf("%d sessions, want %d", r.st.Agents, len(sessions))
		}
	}
}
