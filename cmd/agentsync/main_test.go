package main

import (
	"os"
	"os/exec"
	"testing"
)

// asMainVariable makes the test binary run agentsync's main instead of
// the tests (see TestMain).
const asMainVariable = "AGENTSYNC_TEST_RUN_MAIN"

// TestMain lets the test binary be agentsync itself for the tests that
// need a real process (to receive a real signal): building a separate
// binary cost a compile and left it in the temporary directory.
func TestMain(m *testing.M) {
	if os.Getenv(asMainVariable) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// agentsyncCommand returns a command that runs agentsync with args in a
// process of its own, with only the environment env.
func agentsyncCommand(t testing.TB, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = []string{asMainVariable + "=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}
