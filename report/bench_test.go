package report_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/buildtest"
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

// benchSize reads a benchmark's size from the environment, else def.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// watchPeakRSS reads the peak resident memory (VmHWM) of the process pid
// every few milliseconds until it ends, and sends the last it read. The
// rusage of a child is no measure here: on Linux it carries over the peak
// of its parent, this benchmark, which holds the tenants it synced.
func watchPeakRSS(pid int) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				break
			}
			_, hwm, ok := strings.Cut(string(b), "VmHWM:")
			if !ok {
				break // a zombie: the process has ended
			}
			var kb int64
			fmt.Sscan(hwm, &kb)
			peak = max(peak, kb<<10)
			time.Sleep(5 * time.Millisecond)
		}
		out <- peak
	}()
	return out
}

// Goals of a provider's report: 300 tenants of 40 agents over 90 days,
// written as a directory, in under 10 s and 300 MB.
const (
	manyTenantsGoalTime   = 10 * time.Second
	manyTenantsGoalMemory = 300 << 20
)

// BenchmarkReportManyTenants runs "agentsync report --out-dir" in a process
// of its own, as a member of defender_reader, on AGENTSYNC_BENCH_REPORT_TENANTS
// tenants (300 for the full size, 10 by default) of 40 agents, each synced
// once a day for AGENTSYNC_BENCH_REPORT_DAYS days (90 for the full size, 10
// by default) through the loader, and prints the wall time and the peak
// resident memory against the goals.
func BenchmarkReportManyTenants(b *testing.B) {
	tenants := benchSize("AGENTSYNC_BENCH_REPORT_TENANTS", 10)
	days := benchSize("AGENTSYNC_BENCH_REPORT_DAYS", 10)
	owner := dbtest.URL(b)
	pool, err := pgxpool.New(context.Background(), owner)
	if err != nil {
		b.Fatal(err)
	}
	end := time.Now().UTC().Truncate(time.Hour)
	began := time.Now()
	syncTenant := func(i int) {
		story := loadtest.Story{TenantID: fmt.Sprintf("tenant%04d.example", i), Name: fmt.Sprintf("Tenant %d", i+1),
			Agents: 40, Days: days, Seed: int64(i + 1), End: end}
		if i%7 == 3 {
			story.FailDay = days // some tenants' latest sync failed
		}
		loadtest.Sync(b, pool, story)
	}
	// The first tenant alone, which makes the monthly partitions of the
	// period (two loaders making one at once collide: 42P07); then four at
	// once, as agentsync sync does by default. loadtest.Sync fails the
	// benchmark only on an unexpected error.
	syncTenant(0)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				syncTenant(i)
			}
		})
	}
	for i := 1; i < tenants; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	pool.Close()
	b.Logf("%d tenants of 40 agents, %d days each, synced in %s", tenants, days, time.Since(began).Round(time.Second))

	u, err := url.Parse(owner)
	if err != nil {
		b.Fatal(err)
	}
	u.User = url.User(dbtest.ReaderRole)
	dbtest.ReaderPool(b, owner).Close() // makes the reader role
	bin := buildtest.Agentsync(b)
	for b.Loop() {
		dir := b.TempDir()
		cmd := exec.Command(bin, "report", "--out-dir", dir, "--since", strconv.Itoa(days+1)+"d")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String())
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peaks := watchPeakRSS(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("agentsync report --out-dir: %v\n%s", err, out.String())
		}
		wall := time.Since(start)
		peak := <-peaks
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		files, _ := filepath.Glob(filepath.Join(dir, "*.html"))
		if len(files) != tenants+1 {
			b.Fatalf("the report has %d files, want %d", len(files), tenants+1)
		}
		b.ReportMetric(wall.Seconds(), "s/report")
		b.ReportMetric(float64(peak)/(1<<20), "MB-peak")
		// The CPU time of agentsync itself (not of PostgreSQL) says what
		// the wall time says on a machine shared with other work.
		fmt.Printf("report --out-dir of %d tenants × 40 agents × %d days: %s (goal %s, %.2f of it; agentsync's CPU %s), peak %d MB (goal %d MB, %.2f of it)\n",
			tenants, days, wall.Round(10*time.Millisecond), manyTenantsGoalTime, wall.Seconds()/manyTenantsGoalTime.Seconds(),
			cpu.Round(10*time.Millisecond), peak>>20, manyTenantsGoalMemory>>20, float64(peak)/manyTenantsGoalMemory)
	}
}
