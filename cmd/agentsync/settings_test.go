package main

import (
	"strings"
	"testing"
	"time"
)

// TestFlagsTakeTheFlagPackagesSpellings: a flag may be typed with one dash
// or two, its value after "=" or as the next argument, even one that
// starts with a dash.
func TestFlagsTakeTheFlagPackagesSpellings(t *testing.T) {
	t.Parallel()
	db := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	for _, args := range [][]string{
		{"run", "-jitter", "x"}, {"run", "-jitter=x"}, {"run", "--jitter=x"}, {"run", "--jitter", "x"},
	} {
		code, _, errOut := runCLI(t, db, args...)
		if code != exitUsage || !strings.Contains(errOut, `--jitter (SYNC_JITTER) "x": want a duration`) {
			t.Errorf("%q: exit %d, stderr %q; want the value refused, naming --jitter", args, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, db, "run", "--jitter", "-1s")
	if code != exitUsage || !strings.Contains(errOut, `--jitter (SYNC_JITTER) "-1s": want a duration`) {
		t.Errorf("run --jitter -1s: exit %d, stderr %q; want -1s read as the value, and refused", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "sync", "-h")
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, "Usage: agentsync sync") {
		t.Errorf("sync -h: exit %d, stderr %q; want the help", code, errOut)
	}
}

// TestSettingsReadTheAppsEnvironmentOnly: a command reads the environment
// it is given, not the process's, so that commands run in-process see
// only their own.
func TestSettingsReadTheAppsEnvironmentOnly(t *testing.T) {
	t.Setenv("SYNC_JITTER", "x")
	t.Setenv("SYNC_RUN_ON_START", "maybe")
	code, _, errOut := runCLI(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}, "run")
	if code != exitUsage || strings.Contains(errOut, "SYNC_") || !strings.Contains(errOut, "no tenant") {
		t.Errorf("run with bad values in the process environment only: exit %d, stderr %q; want them unread", code, errOut)
	}
}

// TestHelpIsAnsweredWhateverTheEnvironment: --help is answered before the
// settings are read, so a bad value in the environment does not hide it.
func TestHelpIsAnsweredWhateverTheEnvironment(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, map[string]string{"SYNC_RUN_ON_START": "maybe"}, "run", "--help")
	if code != exitOK || errOut != "" || !strings.HasPrefix(out, "Usage: agentsync run") || strings.Contains(out, "maybe") {
		t.Errorf("run --help with SYNC_RUN_ON_START=maybe: exit %d, stdout %q, stderr %q; want the help", code, out, errOut)
	}
}

// TestEveryDurationTakesDaysAndWeeks: every duration setting reads one way,
// days and weeks included, as report --since does.
func TestEveryDurationTakesDaysAndWeeks(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for in, want := range map[string]time.Duration{
		"30s": 30 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "0s": 0, "0": 0,
		"365d": 365 * day, "12w": 84 * day, "1w2d": 9 * day, "1d12h": 36 * time.Hour, " 2d ": 2 * day,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "w", "-1d", "1.5d", "1d-1h", "2d1w", "1y", "99999999999d", "forever", "1d+1h"} {
		if d, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v; want an error", in, d)
		}
	}
	// Each duration setting of run takes days and weeks: the command goes
	// past the settings, to the tenants it lacks.
	db := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	for _, env := range []string{"SYNC_JITTER", "SHUTDOWN_GRACE", "SYNC_TIMEOUT", "SCAN_HISTORY_LOOKBACK", "OBSERVATION_RETENTION", "SCAN_HISTORY_RETENTION"} {
		for _, v := range []string{"365d", "2w"} {
			code, _, errOut := runCLI(t, withEnv(db, map[string]string{env: v}), "run")
			if code != exitUsage || strings.Contains(errOut, env) || !strings.Contains(errOut, "no tenant") {
				t.Errorf("%s=%s: exit %d, stderr %q; want the value taken", env, v, code, errOut)
			}
		}
	}
	for _, v := range []string{"400d", "5w"} { // RUN_RETENTION: at least 30 days
		code, _, errOut := runCLI(t, withEnv(db, map[string]string{"RUN_RETENTION": v}), "run")
		if code != exitUsage || strings.Contains(errOut, "RUN_RETENTION") || !strings.Contains(errOut, "no tenant") {
			t.Errorf("RUN_RETENTION=%s: exit %d, stderr %q; want the value taken", v, code, errOut)
		}
	}
	if _, err := parseSimulation(simulateSettings{Tenants: "1", Agents: "1", PageSize: "1", Seed: "1", Speed: "1", History: "30d"}, simulatedApplication{}); err != nil {
		t.Errorf("simulate --history 30d: %v", err)
	}
}
