package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// These tests read what the README's two commands, make demo and make
// test, would run (make -n), on this machine and on one without a C
// compiler.

// makeDryRun returns the commands make would run for target, with PATH
// set to path when not empty.
func makeDryRun(t *testing.T, path string, args ...string) string {
	t.Helper()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make here")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	cmd := exec.Command(makeBin, append([]string{"-n", "-C", repoRoot, "GO=" + goBin}, args...)...)
	// Not the variables of a make that runs this test (make test RACE=-race
	// hands RACE down through MAKEFLAGS), nor, for another PATH, those
	// that choose the C compiler.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "RACE":
			continue
		case "PATH", "CC", "CGO_ENABLED":
			if path != "" {
				continue
			}
		}
		cmd.Env = append(cmd.Env, kv)
	}
	if path != "" {
		cmd.Env = append(cmd.Env, "PATH="+path)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestMakeTestRunsWithoutTheRaceDetectorWithoutACCompiler(t *testing.T) {
	t.Parallel()
	// A PATH with no C compiler on it: go then reports CGO_ENABLED=0.
	noCompiler := t.TempDir()
	out := makeDryRun(t, noCompiler, "test")
	if strings.Contains(out, "-race") || !strings.Contains(out, "without the race detector") || !strings.Contains(out, " test ") {
		t.Errorf("make test without a C compiler would run:\n%s\nwant go test without -race, and a word about it", out)
	}
	// CI asks for the race detector, compiler or not.
	if out := makeDryRun(t, noCompiler, "test", "RACE=-race"); !strings.Contains(out, "test -race ") {
		t.Errorf("make test RACE=-race would run:\n%s", out)
	}
	if _, err := exec.LookPath("cc"); err == nil && os.Getenv("CGO_ENABLED") != "0" {
		if out := makeDryRun(t, "", "test"); !strings.Contains(out, "test -race ") || strings.Contains(out, "without the race detector") {
			t.Errorf("make test with a C compiler would run:\n%s\nwant go test -race", out)
		}
	}
}

func TestMakeDemoSaysItIsBuildingFirst(t *testing.T) {
	t.Parallel()
	lines := strings.Split(strings.TrimSpace(makeDryRun(t, "", "demo")), "\n")
	building, compiling, demo := -1, -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "echo ") && strings.Contains(l, "building"):
			building = i
		case strings.Contains(l, " build ") && compiling < 0:
			compiling = i
		case strings.HasSuffix(l, " demo") && filepath.Base(strings.Fields(l)[0]) == "agentsync":
			demo = i
		}
	}
	if building < 0 || compiling < building || demo < compiling {
		t.Errorf("make demo would run:\n%s\nwant a word that it is building, the build, then agentsync demo", strings.Join(lines, "\n"))
	}
}

// TestMakeTestNamesEverySkippedTest: make test runs go test -json through
// internal/testsummary, which lists each skipped test and its reason and
// fails as go test does (its own test proves both).
func TestMakeTestNamesEverySkippedTest(t *testing.T) {
	t.Parallel()
	out := makeDryRun(t, "", "test")
	if !regexp.MustCompile(`(?m) run \./internal/testsummary \S+ test .*-json -count=1 \./\.\.\.$`).MatchString(out) {
		t.Errorf("make test would run:\n%s\nwant go test -json through ./internal/testsummary", out)
	}
}

// TestFirstBuildShowsItsPackages: the first make build (no binary yet)
// names the packages as they compile; a later one is quiet.
func TestFirstBuildShowsItsPackages(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "agentsync")
	if out := makeDryRun(t, "", "build", "BIN="+bin); !strings.Contains(out, " build -v ") || !strings.Contains(out, "packages show as they compile") {
		t.Errorf("the first make build would run:\n%s\nwant go build -v, and a word about it", out)
	}
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if out := makeDryRun(t, "", "build", "BIN="+bin); strings.Contains(out, " -v ") || !strings.Contains(out, " build ") {
		t.Errorf("a later make build would run:\n%s\nwant go build without -v", out)
	}
}
