package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/pooling"
)

// benchSize reads a benchmark's size from the environment, else def.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// profiles counts the CPU profiles runMeasured has had written.
var profiles int

// runMeasured runs agentsync in a process of its own and returns its
// stderr, its wall time, its peak resident memory and the CPU time it
// used.
func runMeasured(b *testing.B, env map[string]string, stdout io.Writer, args ...string) (stderr []byte, wall time.Duration, peakRSS int64, cpu time.Duration) {
	b.Helper()
	rssFile := filepath.Join(b.TempDir(), "peak-rss")
	cmd := agentsyncCommand(b, env, args...)
	cmd.Env = append(cmd.Env, peakRSSVariable+"="+rssFile)
	if dir := os.Getenv("AGENTSYNC_BENCH_CPU_PROFILES"); dir != "" {
		profiles++
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%s/agentsync-%d.pprof", cpuProfileVariable, dir, profiles))
	}
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
	return errOut.Bytes(), wall, n * 1024, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// ownCPU is the CPU time this process has used: the simulated API's,
// while agentsync runs in a process of its own.
func ownCPU(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// serverCPU reads the CPU time the PostgreSQL server at url has used in
// all, its exited backends included, when the server runs on this machine
// and its processes can be read (/proc); ok is false otherwise. The
// server's processes are the children of the postmaster, the parent of
// the backend serving this connection; an exited backend's time is in the
// postmaster's children's time once it has been reaped.
func serverCPU(b *testing.B, url string) (cpu time.Duration, ok bool) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	stat := func(pid int) []string {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// The fields after the command's name, which may hold spaces.
		text := string(raw)
		return strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	}
	// Fields after the name, counted from 0: state 0, ppid 1, utime 11,
	// stime 12, cutime 13, cstime 14 (proc(5)).
	f := stat(backend)
	if len(f) < 15 {
		return 0, false
	}
	parent := f[1]
	postmaster, _ := strconv.Atoi(parent)
	ticks := func(f []string, fields ...int) (n int64) {
		for _, i := range fields {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			n += v
		}
		return n
	}
	// The backends of an agentsync that has just exited may still be
	// exiting: wait (a few seconds at most) until the database has no
	// other connection, so that their time is counted.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var others int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_stat_activity
			WHERE datname = pg_catalog.current_database() AND pid <> pg_catalog.pg_backend_pid()`).Scan(&others); err != nil {
			b.Fatal(err)
		}
		if others == 0 {
			break
		}
	}
	// A backend reaped while the children are read would count in
	// neither: read again until the postmaster's total of reaped children
	// is the same before and after.
	for range 10 {
		pm := stat(postmaster)
		if len(pm) < 15 {
			return 0, false
		}
		total := ticks(pm, 11, 12, 13, 14)
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return 0, false
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if f := stat(pid); len(f) >= 15 && f[1] == parent {
				total += ticks(f, 11, 12)
			}
		}
		if again := stat(postmaster); len(again) >= 15 && ticks(again, 13, 14) == ticks(pm, 13, 14) {
			// USER_HZ is 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).
			return time.Duration(total) * 10 * time.Millisecond, true
		}
	}
	return 0, false
}

// BenchmarkSyncManyTenants runs "agentsync sync" in a process of its own
// against simulated tenants of 40 agents each, served from one simulator
// (AGENTSYNC_BENCH_TENANTS of them: 1000 for the full size, 50 in CI), once
// to take them on and once an hour later, and prints the wall time, each
// tenant's database time (its sync but the wait for the API) and the peak
// resident memory, against the goals. With AGENTSYNC_BENCH_STEPS=1 it also
// prints, per pass, the database steps that took the most time in all;
// with AGENTSYNC_BENCH_STATEMENTS=1, per pass, the statements that took
// the most time as pg_stat_statements counts them (statementStats);
// with AGENTSYNC_BENCH_CPU_PROFILES naming a directory, agentsync writes
// its CPU profile of each pass there (agentsync-1.pprof and on; the
// simulated API's is the benchmark's own -cpuprofile).
func BenchmarkSyncManyTenants(b *testing.B) {
	n := benchSize("AGENTSYNC_BENCH_TENANTS", 50)
	now := time.Now().UTC()
	srv := defendertest.NewTenantsServer(defendertest.FleetTenants(n, 40, 1, now.Add(-30*24*time.Hour), now)...)
	defer srv.Close()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = defendertest.TenantIDOf(i)
	}
	// The statement mode agentsync chooses for a plain URL (prepared
	// statements on this direct connection, see internal/pooling), unless
	// AGENTSYNC_BENCH_EXEC_MODE names one (cache_describe: the mode of a
	// connection through a transaction pooler).
	url := dbtest.PlainURL(b, dbtest.URL(b))
	var mode string
	if m := os.Getenv("AGENTSYNC_BENCH_EXEC_MODE"); m != "" {
		url, mode = url+"&default_query_exec_mode="+m, m
	} else {
		cfg, err := pooling.ParseConfig(url)
		if err != nil {
			b.Fatal(err)
		}
		direct, err := pooling.ChooseExecMode(context.Background(), cfg, url)
		if err != nil {
			b.Fatal(err)
		}
		mode = "chosen by agentsync: " + pooling.DefaultExecModeName
		if direct {
			mode = "chosen by agentsync for a direct connection: " + pooling.DirectExecModeName
		}
	}
	env := map[string]string{
		"DATABASE_URL":           url,
		"DEFENDER_TENANT_ID":     strings.Join(ids, ","),
		"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL":       srv.URL,
		"DEFENDER_TOKEN_URL":     srv.TokenURL(),
		"LOG_FORMAT":             "json",
	}
	// SYNC_CONCURRENCY: the default, 4, unless AGENTSYNC_BENCH_CONCURRENCY
	// says otherwise.
	concurrency := benchSize("AGENTSYNC_BENCH_CONCURRENCY", 4)
	env["SYNC_CONCURRENCY"] = strconv.Itoa(concurrency)
	printSteps := os.Getenv("AGENTSYNC_BENCH_STEPS") == "1"
	var statements *statementStats
	if os.Getenv("AGENTSYNC_BENCH_STATEMENTS") == "1" {
		statements = newStatementStats(b, url)
		defer statements.close()
	}
	if printSteps {
		env["LOG_LEVEL"] = "debug"
	}
	type pass struct {
		name string
		wall time.Duration
		rss  int64
		// CPU time of agentsync, of the simulated API (this process), and
		// of the server when it could be read (serverOK).
		cpu, simulatorCPU, serverCPU time.Duration
		serverOK                     bool
		// p50 and p95 of the tenants' database time: of their agents
		// syncs, and of their whole syncs (agents, scan definitions and
		// scan history).
		agents, all [2]time.Duration
	}
	percentiles := func(d []time.Duration) [2]time.Duration {
		slices.Sort(d)
		return [2]time.Duration{d[len(d)/2], d[len(d)*95/100]}
	}
	// The agents alone first (the goals are theirs), then every resource:
	// a tenant's first reading of its scan history takes a dozen requests,
	// more than Defender's rate limit lets through at once, so its wall
	// time is the API's.
	steps := []struct{ name, resources string }{
		{"agents: first sync (every agent new)", "agents"},
		{"agents: an hour later", "agents"},
		{"all resources: first sync of the scan definitions and history", "agents,definitions,history"},
		{"all resources: an hour later", "agents,definitions,history"},
	}
	var passes []pass
	for i := 0; i < b.N; i++ {
		for k, step := range steps {
			name := step.name
			if k > 0 {
				for _, t := range srv.Tenants.Tenants() {
					t.Advance(time.Hour)
				}
			}
			env["SYNC_RESOURCES"] = step.resources
			perTenant := strings.Count(step.resources, ",") + 1
			if statements != nil {
				statements.reset(b)
			}
			serverBefore, serverOK := serverCPU(b, url)
			simulatorBefore := ownCPU(b)
			stderr, wall, rss, cpu := runMeasured(b, env, io.Discard, "sync")
			simulatorCPU := ownCPU(b) - simulatorBefore
			serverAfter, serverOKAfter := serverCPU(b, url)
			agents := map[string]time.Duration{}
			all := map[string]time.Duration{}
			resources := 0
			stepTotals := map[string]time.Duration{}
			sc := bufio.NewScanner(bytes.NewReader(stderr))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var line struct {
					Msg      string `json:"msg"`
					Tenant   string `json:"tenant"`
					Resource string `json:"resource"`
					Database string `json:"database_duration"`
					Step     string `json:"step"`
					Duration string `json:"duration"`
				}
				if json.Unmarshal(sc.Bytes(), &line) != nil {
					continue
				}
				if line.Msg == "sync step" {
					if d, err := time.ParseDuration(line.Duration); err == nil {
						stepTotals[line.Step] += d
					}
					continue
				}
				if line.Msg != "sync succeeded" {
					continue
				}
				d, err := time.ParseDuration(line.Database)
				if err != nil {
					b.Fatalf("%s: database_duration %q: %v", name, line.Database, err)
				}
				resources++
				all[line.Tenant] += d
				if line.Resource == "agents" {
					agents[line.Tenant] = d
				}
			}
			if len(agents) != n || resources != perTenant*n {
				b.Fatalf("%s: %d tenants synced their agents and %d resources succeeded, want %d and %d", name, len(agents), resources, n, perTenant*n)
			}
			p := pass{name: name, wall: wall, rss: rss, cpu: cpu, simulatorCPU: simulatorCPU,
				serverCPU: serverAfter - serverBefore, serverOK: serverOK && serverOKAfter}
			p.agents = percentiles(slices.Collect(maps.Values(agents)))
			p.all = percentiles(slices.Collect(maps.Values(all)))
			passes = append(passes, p)
			if printSteps {
				printStepTotals(name, stepTotals)
			}
			if statements != nil {
				statements.print(b, name, n)
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("\nagentsync sync of %d simulated tenants × 40 agents (SYNC_CONCURRENCY %d, default_query_exec_mode %s):\n\n", n, concurrency, mode)
	fmt.Printf("Goals: hourly, the agents ≤ 5 s and every resource ≤ 25 s; a first sync of every resource ≤ 60 s; database time per tenant, every resource, p50 ≤ 25 ms hourly; peak RSS ≤ 100 MB.\n\n")
	fmt.Printf("| pass | wall time | database time per tenant, agents: p50 / p95 | all its resources: p50 / p95 | peak RSS |\n|---|---|---|---|---|\n")
	for _, p := range passes {
		fmt.Printf("| %s | %.1f s | %.1f / %.1f ms | %.1f / %.1f ms | %.0f MB |\n", p.name, p.wall.Seconds(),
			ms(p.agents[0]), ms(p.agents[1]), ms(p.all[0]), ms(p.all[1]), float64(p.rss)/1e6)
	}
	// CPU per tenant: on a machine of few cores that runs the server,
	// agentsync and the simulator, their sum per tenant over the cores
	// bounds the wall time.
	fmt.Printf("\nCPU time per tenant (agentsync; the simulated Defender API, this process; the PostgreSQL server, all its processes, when it runs on this machine):\n\n")
	fmt.Printf("| pass | agentsync | simulated API | PostgreSQL |\n|---|---|---|---|\n")
	for _, p := range passes {
		server := "not read"
		if p.serverOK {
			server = fmt.Sprintf("%.1f ms", ms(p.serverCPU)/float64(n))
		}
		fmt.Printf("| %s | %.1f ms | %.1f ms | %s |\n", p.name, ms(p.cpu)/float64(n), ms(p.simulatorCPU)/float64(n), server)
	}
	printObservationStorage(b, env["DATABASE_URL"])
	last := passes[1] // agents, an hour later
	b.ReportMetric(last.wall.Seconds(), "wall_s")
	b.ReportMetric(ms(last.agents[0]), "p50_ms")
	b.ReportMetric(ms(last.agents[1]), "p95_ms")
	b.ReportMetric(ms(passes[len(passes)-1].all[0]), "all_p50_ms")
	b.ReportMetric(float64(last.rss)/1e6, "peak_rss_MB")
	if hourly := passes[len(passes)-1]; hourly.serverOK {
		b.ReportMetric(ms(hourly.serverCPU)/float64(n), "all_server_cpu_ms")
		b.ReportMetric(ms(hourly.cpu)/float64(n), "all_agentsync_cpu_ms")
	}
}

// printObservationStorage prints how the observations of the syncs are
// stored: rows per tenant and sync, and bytes per observation with the
// indexes.
func printObservationStorage(b *testing.B, url string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var runs, observingRuns, rows, observations, bytes int64
	if err := conn.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM defender.sync_runs WHERE resource = 'agents' AND status = 'succeeded'),
		       (SELECT count(DISTINCT run_id) FROM defender_storage.observation),
		       (SELECT count(*) FROM defender_storage.observation),
		       (SELECT coalesce(sum(cardinality(agent_nos)), 0) FROM defender_storage.observation),
		       (SELECT coalesce(sum(pg_catalog.pg_total_relation_size(i.inhrelid)), 0)
		          FROM pg_catalog.pg_inherits i WHERE i.inhparent = 'defender_storage.observation'::regclass)`).Scan(
		&runs, &observingRuns, &rows, &observations, &bytes); err != nil {
		b.Fatal(err)
	}
	if observations == 0 {
		b.Fatal("no observation stored")
	}
	fmt.Printf("\nObservations (goal: one row per tenant and sync, ≤ 30 bytes per observation with indexes): %d successful agents runs, %d of them observed a heartbeat, in %d rows (%.2f per run); %d observations in %d bytes: %.1f bytes per observation\n",
		runs, observingRuns, rows, float64(rows)/float64(observingRuns), observations, bytes, float64(bytes)/float64(observations))
	b.ReportMetric(float64(bytes)/float64(observations), "obs_bytes")
}

// printStepTotals prints the database steps of a pass that took the most
// time, summed over its tenants.
func printStepTotals(pass string, totals map[string]time.Duration) {
	steps := slices.Collect(maps.Keys(totals))
	slices.SortFunc(steps, func(a, b string) int { return int(totals[b] - totals[a]) })
	fmt.Printf("\n%s: the steps that took the most database time, over every tenant\n", pass)
	for _, s := range steps[:min(8, len(steps))] {
		fmt.Printf("  %-45s %8.1f ms\n", s, float64(totals[s].Microseconds())/1000)
	}
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
		_, wall, rss, _ := runMeasured(b, env, &count, "fetch")
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
