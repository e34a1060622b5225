package main

import (
	"regexp"
	"strings"
	"testing"
)

// flagLine is a flag's line in --help: "  --name placeholder".
var flagLine = regexp.MustCompile(`(?m)^  --([a-z-]+)( \S+)?$`)

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		code, out, errOut := runCLI(t, nil, c.name, "--help")
		if code != exitOK || errOut != "" || !strings.HasPrefix(out, "Usage: agentsync "+c.name) {
			t.Errorf("%s --help: exit %d, stdout %q, stderr %q; want the help on stdout", c.name, code, out, errOut)
			continue
		}
		// "agentsync help CMD" is "agentsync CMD --help".
		if code, same, _ := runCLI(t, nil, "help", c.name); code != exitOK || same != out {
			t.Errorf("help %s: exit %d, output differs from %s --help:\n%s", c.name, code, c.name, same)
		}
		exits := out[strings.Index(out, "\nExit status:\n")+1:]
		for _, want := range []string{"Exit status:\n", "\n  0  ", "\n  2  bad command line or configuration\n"} {
			if !strings.Contains(exits, want) {
				t.Errorf("%s --help does not list its exit statuses (%q):\n%s", c.name, want, out)
			}
		}
		// Every value has a placeholder that says what it is, and numbers
		// show as numbers.
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			placeholder := strings.TrimSpace(m[2])
			if placeholder == "" {
				if !isBoolFlag(t, c.name, m[1]) {
					t.Errorf("%s --%s has no placeholder", c.name, m[1])
				}
				continue
			}
			if placeholder == "value" || placeholder == "string" {
				t.Errorf("%s --%s: placeholder %q says nothing of the value", c.name, m[1], placeholder)
			}
		}
		if quoted := regexp.MustCompile(`default "[0-9]`).FindString(out); quoted != "" {
			t.Errorf("%s --help quotes a number: %s", c.name, quoted)
		}
	}
	code, out, errOut := runCLI(t, nil, "sync", "--help")
	if code != exitOK || !strings.Contains(out, "--max-deleted-count n\n") || !strings.Contains(out, "default 10)") ||
		!strings.Contains(out, "--database-url url\n") {
		t.Errorf("sync --help: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	if code, out, _ := runCLI(t, nil, "run", "--help"); code != exitOK ||
		!strings.Contains(out, "--jitter duration\n") || !strings.Contains(out, "--schedule cron-spec\n") {
		t.Errorf("run --help: exit %d, stdout:\n%s", code, out)
	}
	if code, out, _ := runCLI(t, nil, "--help"); code != exitOK || !strings.Contains(out, "Commands:") {
		t.Errorf("--help: exit %d, output %q", code, out)
	}
}

// isBoolFlag reports whether the flag name of command is a boolean one.
func isBoolFlag(t *testing.T, command, name string) bool {
	t.Helper()
	code, _, errOut := runCLI(t, nil, command, "--"+name+"=maybe")
	return code == exitUsage && strings.Contains(errOut, "want true or false")
}

func TestBareAgentsyncPrintsUsageToStderr(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil)
	if code != exitUsage || out != "" || !strings.Contains(errOut, "Commands:") {
		t.Errorf("agentsync: exit %d, stdout %q, stderr %q; want the usage on stderr and %d", code, out, errOut, exitUsage)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, nil, "version")
	if code != exitOK || !strings.HasPrefix(out, "agentsync ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
	if code, same, errOut := runCLI(t, nil, "--version"); code != exitOK || same != out {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want what version prints", code, same, errOut)
	}
}

// TestCommandLineMistakesAreOneLine: a mistake on the command line is
// answered with one line that names it as typed and the help to read,
// not with the whole usage.
func TestCommandLineMistakesAreOneLine(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		for _, tc := range []struct {
			arg, want, notWant string
		}{
			{"--bogus", "unknown flag --bogus;", ""},
			{"-bogus=1", "unknown flag -bogus;", "--bogus"},
		} {
			code, out, errOut := runCLI(t, nil, c.name, tc.arg)
			if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 ||
				!strings.Contains(errOut, tc.want) || !strings.Contains(errOut, `"agentsync `+c.name+` --help"`) ||
				(tc.notWant != "" && strings.Contains(errOut, tc.notWant)) {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want one line with %q and the --help to run", c.name, tc.arg, code, out, errOut, tc.want)
			}
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"--bogus"}, {"help", "frobnicate"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, `"agentsync --help"`) {
			t.Errorf("agentsync %q: exit %d, stdout %q, stderr %q; want one line and exit %d", args, code, out, errOut, exitUsage)
		}
	}
	if code, _, errOut := runCLI(t, nil, "run", "--jitter"); code != exitUsage || !strings.Contains(errOut, "--jitter") || strings.Contains(errOut, " -jitter") {
		t.Errorf("run --jitter: exit %d, stderr %q; want the flag named with two dashes", code, errOut)
	}
}

// TestSettingErrorsNameWhatTheUserTyped: a bad value names the flag first
// when it came from the command line, the variable first when it came from
// the environment, and always the other way to give it.
func TestSettingErrorsNameWhatTheUserTyped(t *testing.T) {
	t.Parallel()
	db := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	with := func(k, v string) map[string]string {
		env := map[string]string{k: v}
		for k, v := range db {
			env[k] = v
		}
		return env
	}
	for _, tc := range []struct {
		env        map[string]string
		args       []string
		want, gone string
	}{
		{db, []string{"run", "--jitter", "x"}, `--jitter (SYNC_JITTER) "x": want a duration`, ""},
		{with("SYNC_JITTER", "x"), []string{"run"}, `SYNC_JITTER (--jitter) "x": want a duration`, ""},
		{with("SYNC_JITTER", "1m"), []string{"run", "--jitter=x"}, `--jitter (SYNC_JITTER) "x"`, ""},
		{db, []string{"run", "--shutdown-grace", "0s"}, "--shutdown-grace (SHUTDOWN_GRACE) must be positive", ""},
		{db, []string{"sync", "--max-deleted-count", "-3"}, `--max-deleted-count (SYNC_MAX_DELETED_COUNT) "-3"`, ""},
		{with("SYNC_MAX_DELETED_FRACTION", "2"), []string{"sync"}, `SYNC_MAX_DELETED_FRACTION (--max-deleted-fraction) "2"`, ""},
		{db, []string{"migrate", "--log-level", "loud"}, `--log-level (LOG_LEVEL) "loud"`, ""},
		{with("LOG_LEVEL", "loud"), []string{"migrate"}, `LOG_LEVEL (--log-level) "loud"`, ""},
		{with("SYNC_RUN_ON_START", "maybe"), []string{"run"}, `SYNC_RUN_ON_START (--run-on-start) "maybe"`, ""},
		{db, []string{"run", "--run-on-start=maybe"}, `--run-on-start (SYNC_RUN_ON_START) "maybe"`, ""},
		{with("OBSERVATION_RETENTION", "forever"), []string{"sync"}, `OBSERVATION_RETENTION (--observation-retention) "forever": want a duration such as 30s, 5m, 36h, 1h30m, 90d (days) or 12w (weeks)`, ""},
		{with("SCAN_HISTORY_RETENTION", "forever"), []string{"sync"}, `SCAN_HISTORY_RETENTION (--scan-history-retention) "forever": want a duration such as 30s, 5m, 36h, 1h30m, 90d (days) or 12w (weeks)`, ""},
		{with("SCAN_HISTORY_RETENTION", "3d"), []string{"sync"}, `SCAN_HISTORY_RETENTION (--scan-history-retention) "3d": want at least 336h0m0s`, ""},
		{db, []string{"sync", "--scan-history-retention", "15d", "--scan-history-lookback", "16d"}, `--scan-history-retention (SCAN_HISTORY_RETENTION) "15d": want more than the lookback of the scan history (384h0m0s)`, ""},
		{with("RUN_RETENTION", "forever"), []string{"sync"}, `RUN_RETENTION (--run-retention) "forever": want a duration such as 30s, 5m, 36h, 1h30m, 90d (days) or 12w (weeks)`, ""},
		{with("RUN_RETENTION", "10d"), []string{"sync"}, `RUN_RETENTION (--run-retention) "10d": want at least 720h0m0s`, ""},
		{db, []string{"sync", "--observation-retention", "365d", "--run-retention", "380d"}, `--run-retention (RUN_RETENTION) "380d": want at least 9504h0m0s, a month (31d) more than --observation-retention (OBSERVATION_RETENTION), so that`, ""},
		{db, []string{"run", "--scan-history-retention", "180d", "--run-retention", "90d"}, `--run-retention (RUN_RETENTION) "90d": want more than 4320h0m0s, --scan-history-retention (SCAN_HISTORY_RETENTION), so that`, ""},
		{nil, []string{"migrate", "--database-url", "postgres://u:hunter2@h:notaport/db"}, "--database-url (DATABASE_URL): cannot parse it", "hunter2"},
	} {
		code, _, errOut := runCLI(t, tc.env, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || (tc.gone != "" && strings.Contains(errOut, tc.gone)) {
			t.Errorf("%q with %v: exit %d, stderr %q; want %d naming %q, not %q", tc.args, tc.env, code, errOut, exitUsage, tc.want, tc.gone)
		}
	}
}

// TestScheduleErrorsNameTheSettingAndItsForms: a schedule refused names
// SYNC_SCHEDULE and --schedule, and lists what a schedule may be.
func TestScheduleErrorsNameTheSettingAndItsForms(t *testing.T) {
	t.Parallel()
	db := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	forms := []string{"5 cron fields", `"17 * * * *"`, "@hourly", "@daily", "@weekly", "@monthly", `"@every 30m"`, "CRON_TZ=<zone>"}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{withEnv(db, map[string]string{"SYNC_SCHEDULE": "@evry 1m"}), []string{"run"}, `SYNC_SCHEDULE (--schedule) "@evry 1m": unrecognized descriptor`},
		{db, []string{"run", "--schedule", "@evry 1m"}, `--schedule (SYNC_SCHEDULE) "@evry 1m": unrecognized descriptor`},
		{withEnv(db, map[string]string{"SYNC_SCHEDULE": "61 * * * *"}), []string{"status"}, `SYNC_SCHEDULE (--schedule) "61 * * * *": `},
		{withEnv(db, map[string]string{"SYNC_SCHEDULE": "@every 0s"}), []string{"run"}, `SYNC_SCHEDULE (--schedule) "@every 0s": `},
	} {
		code, _, errOut := runCLI(t, tc.env, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q with %v: exit %d, stderr %q; want one line naming %q", tc.args, tc.env, code, errOut, tc.want)
		}
		for _, f := range forms {
			if !strings.Contains(errOut, f) {
				t.Errorf("%q with %v: stderr %q does not list the form %s", tc.args, tc.env, errOut, f)
			}
		}
	}
}

func TestBooleanSettingsTakeTheUsualSpellingsOnly(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{
		"1": true, "true": true, "TRUE": true, "yes": true, "Yes": true, "on": true, "ON": true,
		"0": false, "false": false, "False": false, "no": false, "NO": false, "off": false, "Off": false, "": false,
	} {
		for _, fromFlag := range []bool{false, true} {
			a := newApp(nil, nil, func(k string) string {
				if k == "SYNC_RUN_ON_START" && !fromFlag {
					return value
				}
				return ""
			})
			var root cli
			args := []string{"run"}
			if fromFlag && value != "" {
				args = append(args, "--run-on-start="+value)
			}
			_, _, err := a.parse(a.newParser(&root), args)
			if got := root.Run.RunOnStart; err != nil || got != want {
				t.Errorf("run-on-start %q (flag: %v): %v, error %v; want %v", value, fromFlag, got, err, want)
			}
		}
	}
	db := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}
	for _, bad := range []string{"maybe", "2", "y", "enabled"} {
		env := map[string]string{"SYNC_RUN_ON_START": bad}
		for k, v := range db {
			env[k] = v
		}
		code, _, errOut := runCLI(t, env, "run")
		if code != exitUsage || !strings.Contains(errOut, `SYNC_RUN_ON_START (--run-on-start) "`+bad+`"`) {
			t.Errorf("SYNC_RUN_ON_START=%s: exit %d, stderr %q; want %d naming the variable and value", bad, code, errOut, exitUsage)
		}
		code, _, errOut = runCLI(t, db, "run", "--run-on-start="+bad)
		if code != exitUsage || !strings.Contains(errOut, `--run-on-start (SYNC_RUN_ON_START) "`+bad+`"`) {
			t.Errorf("--run-on-start=%s: exit %d, stderr %q; want %d naming the flag and value", bad, code, errOut, exitUsage)
		}
	}
}
