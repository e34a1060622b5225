package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sampleModule writes a module whose tests pass, skip with and without a
// reason, and (when failing) fail, and returns its directory.
func sampleModule(t *testing.T, failing bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":           "module sample\n\ngo 1.22\n",
		"a/a.go":           "package a\n",
		"a/a_test.go":      "package a\n\nimport \"testing\"\n\nfunc TestPasses(t *testing.T) { t.Log(\"quiet\") }\n\nfunc TestNeedsChromium(t *testing.T) { t.Skip(\"no chromium here: apt-get install chromium\") }\n\nfunc TestTable(t *testing.T) {\n\tt.Run(\"sub\", func(t *testing.T) { t.Skipf(\"want %d\", 2) })\n}\n",
		"b/b.go":           "package b\n",
		"b/b_test.go":      "package b\n\nimport \"testing\"\n\nfunc TestSilentSkip(t *testing.T) { t.SkipNow() }\n",
		"nothing/empty.go": "package nothing\n",
	}
	if failing {
		files["c/c_test.go"] = "package c\n\nimport \"testing\"\n\nfunc TestBreaks(t *testing.T) { t.Error(\"the value is wrong\") }\n"
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runSummary runs testsummary (built from this package) on go test -json
// in dir, and returns its exit status and output.
func runSummary(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"go", "test", "-json", "-count=1"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestSummaryListsEverySkipAndKeepsFailuresFailing(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	bin := filepath.Join(t.TempDir(), "testsummary")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	code, out := runSummary(t, bin, sampleModule(t, false), "./...")
	for _, want := range []string{
		"ok  \tsample/a\t",
		"ok  \tsample/b\t",
		"\nskipped tests (3), not checked here:\n",
		"  SKIP sample/a TestNeedsChromium: a_test.go:7: no chromium here: apt-get install chromium\n",
		"  SKIP sample/a TestTable/sub: a_test.go:10: want 2\n",
		"  SKIP sample/b TestSilentSkip: (no reason given)\n",
		"\ntests: 2 passed, 0 failed, 3 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 || strings.Contains(out, "quiet") || strings.Contains(out, "=== RUN") {
		t.Errorf("exit %d; want 0 and the passing tests' logs kept out:\n%s", code, out)
	}

	code, out = runSummary(t, bin, sampleModule(t, true), "./...")
	if code != 1 || !strings.Contains(out, "the value is wrong") || !strings.Contains(out, "FAIL\tsample/c") ||
		!strings.Contains(out, "tests: 2 passed, 1 failed, 3 skipped") {
		t.Errorf("with a failing test: exit %d; want 1, the failure shown and counted:\n%s", code, out)
	}

	// go test failing before any test (a package that does not build, a
	// bad flag) fails the summary too.
	broken := sampleModule(t, false)
	if err := os.WriteFile(filepath.Join(broken, "b", "b.go"), []byte("package b\n\nfunc f() { undefined() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runSummary(t, bin, broken, "./..."); code != 1 || !strings.Contains(out, "undefined") {
		t.Errorf("with a build failure: exit %d; want 1 and the compiler's error:\n%s", code, out)
	}
	if code, out := runSummary(t, bin, sampleModule(t, false), "-bogusflag", "./..."); code != 1 {
		t.Errorf("with a bad flag: exit %d; want 1:\n%s", code, out)
	}
}
