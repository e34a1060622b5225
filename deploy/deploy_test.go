// Package deploy_test checks the files that build and deploy agentsync
// (the Dockerfile, docker-compose.yml, the Kubernetes kustomizations, the
// Grafana and Prometheus set-up, the Makefile) against the code: the
// commands they run exist, the variables they set are read, the ports they
// publish are listened on, the queries of the dashboards run. The
// commands' settings are taken from the help of the agentsync binary
// itself, built once for the tests that need it.
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the repository, whose files these tests read.
const repoRoot = ".."

// binDir holds the agentsync binary the tests build; removed at the end.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentsync-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The version and commit the binary is built with, as the Dockerfile and
// the Makefile set them.
const (
	testVersion = "v0.0.0-deploy.test"
	testCommit  = "0d1e2f3"
)

// buildAgentsync builds cmd/agentsync once. With the race detector on in
// the tests, the binary is built with it too, so that the build reuses the
// packages the test run compiled.
var buildAgentsync = sync.OnceValues(func() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go on PATH to build agentsync: %w", err)
	}
	bin := filepath.Join(binDir, "agentsync")
	args := []string{"build", "-o", bin, "-ldflags", "-X main.version=" + testVersion + " -X main.commit=" + testCommit}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "./cmd/agentsync")...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agentsync: %v\n%s", err, out)
	}
	return bin, nil
})

// agentsyncVersion returns what "agentsync version" prints.
func agentsyncVersion(t *testing.T) string {
	t.Helper()
	bin, err := buildAgentsync()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("agentsync version: %v", err)
	}
	return string(out)
}

// agentsyncHelp returns what "agentsync args... --help" prints, run with
// an empty environment (the help never shows the environment's values).
func agentsyncHelp(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := buildAgentsync()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, append(args, "--help")...)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("agentsync %s --help: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// agentsyncCommands returns the commands "agentsync --help" lists.
func agentsyncCommands(t *testing.T) []string {
	t.Helper()
	_, list, ok := strings.Cut(agentsyncHelp(t), "\nCommands:\n")
	if !ok {
		t.Fatal("agentsync --help lists no commands")
	}
	var names []string
	for line := range strings.Lines(list) {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(line, "  ") {
			break
		}
		names = append(names, fields[0])
	}
	if len(names) < 5 {
		t.Fatalf("agentsync --help lists the commands %q", names)
	}
	return names
}
