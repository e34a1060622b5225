package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/logtest"
	"github.com/agentsync/agentsync/scanagent"
)

// waitFor polls cond until it holds, failing after a generous timeout; it
// never asserts how long anything took.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startCLI runs agentsync in the background with env; cancel stands for
// SIGTERM. wait returns the exit status.
func startCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr *logtest.Buffer, cancel func(), wait func() int) {
	t.Helper()
	stdout, stderr = &logtest.Buffer{}, &logtest.Buffer{}
	a := newApp(stdout, stderr, func(k string) string { return env[k] })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, args) }()
	var once sync.Once
	var code int
	wait = func() int {
		once.Do(func() {
			select {
			case code = <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("agentsync %s did not exit; stderr:\n%s", strings.Join(args, " "), stderr)
			}
		})
		return code
	}
	t.Cleanup(func() { cancel(); wait() })
	return stdout, stderr, cancel, wait
}

// exportedEnv reads the "export K=V" lines simulate prints.
func exportedEnv(out string) map[string]string {
	env := map[string]string{}
	for line := range strings.Lines(out) {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = strings.Trim(v, "'")
		}
	}
	return env
}

func TestSimulateServesATenantAgentsyncCanList(t *testing.T) {
	t.Parallel()
	stdout, stderr, cancel, wait := startCLI(t, nil, "simulate", "--listen", "127.0.0.1:0", "--agents", "120", "--page-size", "50", "--seed", "7")
	waitFor(t, "the simulator's environment", func() bool { return strings.Contains(stdout.String(), "DEFENDER_CLIENT_SECRET") })
	env := exportedEnv(stdout.String())
	client, err := extract.New(extract.Config{
		TenantID: env["DEFENDER_TENANT_ID"], ClientID: env["DEFENDER_CLIENT_ID"], ClientSecret: env["DEFENDER_CLIENT_SECRET"],
		APIURL: env["DEFENDER_API_URL"], TokenURL: env["DEFENDER_TOKEN_URL"],
	})
	if err != nil {
		t.Fatalf("client from the printed environment %v: %v", env, err)
	}
	var ids []string
	stats, err := client.List(context.Background(), func(r scanagent.Record) error {
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("list: %v\nsimulator log:\n%s", err, stderr)
	}
	if len(ids) < 50 || stats.Pages < 2 {
		t.Fatalf("listed %d agents in %d pages; want a fleet of about 120 in pages of 50", len(ids), stats.Pages)
	}
	cancel()
	if code := wait(); code != exitOK {
		t.Fatalf("simulate exited %d after the stop signal; stderr:\n%s", code, stderr)
	}
}

func TestSimulateNeverPrintsAGivenSecret(t *testing.T) {
	t.Parallel()
	const secret = "given-secret-d0n7-pr1n7"
	stdout, stderr, cancel, wait := startCLI(t, map[string]string{"DEFENDER_CLIENT_SECRET": secret}, "simulate", "--listen", "127.0.0.1:0")
	waitFor(t, "the simulator's environment", func() bool { return strings.Contains(stdout.String(), "DEFENDER_CLIENT_SECRET") })
	cancel()
	wait()
	if strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Fatal("simulate printed the client secret it was given")
	}
}

func TestSimulateRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--agents", "many"}, {"--page-size", "0"}, {"--speed", "-1"}, {"--seed", "x"}, {"--history", "long"},
	} {
		code, _, errOut := runCLI(t, nil, append([]string{"simulate", "--listen", "127.0.0.1:0"}, args...)...)
		if code != exitUsage {
			t.Errorf("simulate %q: exit %d, want %d; stderr %q", args, code, exitUsage, errOut)
		}
	}
}

func TestSimulatedClockAgesTheFleet(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(time.Minute)
	c := simulatedClock{start: start, speed: 1440, history: 30 * 24 * time.Hour, now: func() time.Time { return now }}
	if got, want := c.at(), start.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("after a minute at speed 1440: %s, want %s", got, want)
	}
	if got, want := c.fleetStart(), start.Add(-30*24*time.Hour); !got.Equal(want) {
		t.Errorf("fleet start %s, want %s", got, want)
	}
}

// TestSimulatedTenantsSyncSideBySide: simulate --tenants 3 prints one
// configuration for all three; sync syncs each into its own run, and a
// tenant the API refuses fails alone, the others committed.
func TestSimulatedTenantsSyncSideBySide(t *testing.T) {
	t.Parallel()
	stdout, stderr, cancel, wait := startCLI(t, nil, "simulate", "--listen", "127.0.0.1:0", "--tenants", "3", "--agents", "30")
	waitFor(t, "the simulator's environment", func() bool { return strings.Contains(stdout.String(), "DEFENDER_CLIENT_SECRET") })
	env := exportedEnv(stdout.String())
	ids := strings.Split(env["DEFENDER_TENANT_ID"], ",")
	if len(ids) != 3 || !strings.Contains(env["DEFENDER_TOKEN_URL"], "{tenant}") {
		t.Fatalf("printed environment %v: want three tenants and a {tenant} token URL", env)
	}
	env["DATABASE_URL"] = dbtest.URL(t)
	code, out, errOut := runCLI(t, env, "sync")
	if code != exitOK {
		t.Fatalf("sync of three tenants: exit %d\n%s\n%s\nsimulator:\n%s", code, out, errOut, stderr)
	}
	for _, id := range ids {
		if !strings.Contains(out, id+": sync succeeded") {
			t.Errorf("no summary line for %s:\n%s", id, out)
		}
	}
	// A tenant whose consent was revoked fails alone.
	env["DEFENDER_TENANT_ID"] = strings.Join(append(ids, "revoked.onmicrosoft.com"), ",")
	code, out, errOut = runCLI(t, env, "sync", "--concurrency", "2")
	if code != exitFailure || strings.Count(out, ": sync succeeded") != 3 ||
		!strings.Contains(errOut, "tenant revoked.onmicrosoft.com:") || !strings.Contains(errOut, "1 of 4 tenants failed") {
		t.Fatalf("sync with one failing tenant: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var succeeded, failed, tenants int
	if err := pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
		       count(DISTINCT tenant_id) FROM defender.sync_runs WHERE resource = 'agents'`).Scan(&succeeded, &failed, &tenants); err != nil {
		t.Fatal(err)
	}
	if succeeded != 6 || failed != 1 || tenants != 4 {
		t.Fatalf("runs: %d succeeded, %d failed, %d tenants; want 6, 1 and 4", succeeded, failed, tenants)
	}
	cancel()
	wait()
}

// TestSimulateNeverEchoesASecretGivenAsItsFile: a secret set where its
// file's path belongs is not quoted back.
func TestSimulateNeverEchoesASecretGivenAsItsFile(t *testing.T) {
	t.Parallel()
	const secret = "given-secret-as-a-path-d0n7-pr1n7"
	code, stdout, stderr := runCLI(t, map[string]string{"DEFENDER_CLIENT_SECRET_FILE": secret}, "simulate", "--listen", "127.0.0.1:0")
	if code == exitOK || !strings.Contains(stderr, "DEFENDER_CLIENT_SECRET_FILE") || !strings.Contains(stderr, "does not exist") {
		t.Errorf("simulate with a missing secret file: exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Errorf("simulate echoed the secret: %q", stderr)
	}
}
