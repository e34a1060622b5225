package main

import (
	"strings"
	"testing"
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
		if code != exitUsage || !strings.Contains(errOut, `--jitter "x": want a duration`) {
			t.Errorf("%q: exit %d, stderr %q; want the value refused, naming --jitter", args, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, db, "run", "--jitter", "-1s")
	if code != exitUsage || !strings.Contains(errOut, `--jitter "-1s": want a duration`) {
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
