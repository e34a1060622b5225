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

// BenchmarkDecodePage decodes and normalizes one full page of 10,000
// agents in mixed casings, the API's largest page.
func BenchmarkDecodePage(b *testing.B) {
	for _, tc := range []struct {
		name string
		body func([]byte) []byte
	}{
		{"standard", func(body []byte) []byte { return body }},
		// A trailing comma, as in the vendor's example, takes the
		// standardizing path.
		{"trailing-comma", func(body []byte) []byte {
			return append(body[:len(body)-2:len(body)-2], ",]}"...)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			agents := defendertest.NewFleet(1, 10_000, fleetStart).AgentsAt(fleetStart.Add(30 * 24 * time.Hour))
			body := tc.body(defendertest.RenderPage("https://api.security.microsoft.com", agents, defendertest.CasingMixed, ""))
			c := &Client{log: slog.New(slog.DiscardHandler), obs: NopObserver{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				var st scanagent.ListStats
				if _, err := c.handOn(1, &response{status: 200, body: body}, &st, idset.New(), func(scanagent.Record) error { return nil }); err != nil {
					b.Fatal(err)
				}
				if st.Agents != len(agents) {
					b.Fatalf("%d agents, want %d", st.Agents, len(agents))
				}
				n += st.Agents
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "agents/s")
		})
	}
}

// BenchmarkDecode decodes one page of 10,000 agents, the API's largest,
// without normalizing them: the JSON decoder's share of
// BenchmarkDecodePage.
func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		name string
		body func([]byte) []byte
	}{
		{"standard", func(body []byte) []byte { return body }},
		{"trailing-comma", func(body []byte) []byte {
			return append(body[:len(body)-2:len(body)-2], ",]}"...)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			agents := defendertest.NewFleet(1, 10_000, fleetStart).AgentsAt(fleetStart.Add(30 * 24 * time.Hour))
			body := tc.body(defendertest.RenderPage("https://api.security.microsoft.com", agents, defendertest.CasingMixed, ""))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				if _, err := decodePage(body, func(_ int, members []member, _ string) error {
					n += len(members)
					return nil
				}, false); err != nil {
					b.Fatal(err)
				}
				if n < len(agents) {
					b.Fatalf("%d members of %d agents", n, len(agents))
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
