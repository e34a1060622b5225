package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
)

// benchSize reads a benchmark's size from the environment, else def.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// run runs agentsync in a process of its own and returns its stderr, its
// wall time and its peak resident memory.
func runMeasured(b *testing.B, env map[string]string, stdout io.Writer, args ...string) (stderr []byte, wall time.Duration, peakRSS int64) {
	b.Helper()
	rssFile := filepath.Join(b.TempDir(), "peak-rss")
	cmd := agentsyncCommand(b, env, args...)
	cmd.Env = append(cmd.Env, peakRSSVariable+"="+rssFile)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("agentsync %s: %v\n%.3000s", strings.Join(args, " "), err, errOut.String())
	}
	wall = time.Since(start)
	kb, err := os.ReadFile(rssFile)
	if err != nil {
		b.Fatalf("agentsync %s did not tell its peak memory: %v", strings.Join(args, " "), err)
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(string(kb), " kB"), 10, 64)
	if err != nil {
		b.Fatalf("agentsync %s: peak memory %q: %v", strings.Join(args, " "), kb, err)
	}
	return errOut.Bytes(), wall, n * 1024
}

// BenchmarkSyncManyTenants runs "agentsync sync" in a process of its own
// against simulated tenants of 40 agents each, served from one simulator
// (AGENTSYNC_BENCH_TENANTS of them: 1000 for the full size, 50 in CI), once
// to take them on and once an hour later, and prints the wall time, each
// tenant's database time (its sync but the wait for the API) and the peak
// resident memory, against the goals.
func BenchmarkSyncManyTenants(b *testing.B) {
	n := benchSize("AGENTSYNC_BENCH_TENANTS", 50)
	now := time.Now().UTC()
	srv := defendertest.NewTenantsServer(defendertest.FleetTenants(n, 40, 1, now.Add(-30*24*time.Hour), now)...)
	defer srv.Close()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = defendertest.TenantIDOf(i)
	}
	env := map[string]string{
		"DATABASE_URL":           dbtest.URL(b),
		"DEFENDER_TENANT_ID":     strings.Join(ids, ","),
		"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL":       srv.URL,
		"DEFENDER_TOKEN_URL":     srv.TokenURL(),
		"LOG_FORMAT":             "json",
	}
	type pass struct {
		name      string
		wall      time.Duration
		rss       int64
		p50, p95  time.Duration
		succeeded int
	}
	var passes []pass
	for i := 0; i < b.N; i++ {
		for _, name := range []string{"first sync (every agent new)", "an hour later"} {
			if len(passes) > 0 {
				for _, t := range srv.Tenants.Tenants() {
					t.Advance(time.Hour)
				}
			}
			stderr, wall, rss := runMeasured(b, env, io.Discard, "sync")
			var durations []time.Duration
			sc := bufio.NewScanner(bytes.NewReader(stderr))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var line struct {
					Msg      string `json:"msg"`
					Database string `json:"database_duration"`
				}
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "sync succeeded" {
					d, _ := time.ParseDuration(line.Database)
					durations = append(durations, d)
				}
			}
			if len(durations) != n {
				b.Fatalf("%s: %d tenants synced, want %d", name, len(durations), n)
			}
			slices.Sort(durations)
			passes = append(passes, pass{name, wall, rss, durations[n/2], durations[n*95/100], len(durations)})
		}
	}
	fmt.Printf("\nagentsync sync of %d simulated tenants × 40 agents (SYNC_CONCURRENCY 4):\n\n", n)
	fmt.Printf("| pass | wall time (goal ≤ 60 s) | per-tenant database time p50 (≤ 20 ms) | p95 (≤ 60 ms) | peak RSS (≤ 150 MB) |\n|---|---|---|---|---|\n")
	for _, p := range passes {
		fmt.Printf("| %s | %.1f s | %.1f ms | %.1f ms | %.0f MB |\n", p.name, p.wall.Seconds(),
			float64(p.p50.Microseconds())/1000, float64(p.p95.Microseconds())/1000, float64(p.rss)/1e6)
	}
	last := passes[len(passes)-1]
	b.ReportMetric(last.wall.Seconds(), "wall_s")
	b.ReportMetric(float64(last.p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(last.p95.Microseconds())/1000, "p95_ms")
	b.ReportMetric(float64(last.rss)/1e6, "peak_rss_MB")
}

// BenchmarkFetchLargeTenant runs "agentsync fetch" in a process of its own
// against one simulated tenant of AGENTSYNC_BENCH_FETCH_AGENTS agents
// (1,000,000 for the full size; 20,000 in CI) in pages of 10,000, and
// prints its peak resident memory against the 100 MB goal.
func BenchmarkFetchLargeTenant(b *testing.B) {
	n := benchSize("AGENTSYNC_BENCH_FETCH_AGENTS", 20000)
	now := time.Now().UTC()
	agents := make([]defendertest.Agent, n)
	fleet := defendertest.NewFleet(5, 1, now)
	proto := fleet.AgentsAt(now)[0]
	for i := range agents {
		a := proto
		a.ID = fmt.Sprintf("%s_%08x", proto.ID[:36], i)
		a.ComputerDNSName = fmt.Sprintf("scanner-%07d.contoso.local", i)
		agents[i] = a
	}
	srv := defendertest.NewServer(defendertest.WithAgents(agents), defendertest.WithPageSize(10000))
	defer srv.Close()
	agents = nil
	env := map[string]string{
		"DEFENDER_TENANT_ID":     defendertest.DefaultTenantID,
		"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL":       srv.URL,
		"DEFENDER_TOKEN_URL":     srv.TokenURL(),
		"LOG_LEVEL":              "error",
	}
	for i := 0; i < b.N; i++ {
		var count lineCounter
		_, wall, rss := runMeasured(b, env, &count, "fetch")
		if count.lines != n {
			b.Fatalf("fetch printed %d agents, want %d", count.lines, n)
		}
		fmt.Printf("\nagentsync fetch of one tenant of %d agents: %.1f s, peak RSS %.0f MB (goal ≤ 100 MB)\n",
			n, wall.Seconds(), float64(rss)/1e6)
		b.ReportMetric(float64(rss)/1e6, "peak_rss_MB")
	}
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}
