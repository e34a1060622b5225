// Package buildtest builds the agentsync command for the tests that run it
// as its users do, in a process of its own: the report of the real demo,
// a daemon scraped by a real Prometheus.
package buildtest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Agentsync builds the agentsync command of this module into a temporary
// directory of t and returns its path. Without a go command the test is
// skipped.
func Agentsync(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build agentsync with")
	}
	bin := filepath.Join(t.TempDir(), "agentsync")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/agentsync/agentsync/cmd/agentsync").CombinedOutput(); err != nil {
		t.Fatalf("build agentsync: %v\n%s", err, out)
	}
	return bin
}
