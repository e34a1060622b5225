package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
)

// asMainVariable makes the test binary run agentsync's main instead of
// the tests (see TestMain).
const asMainVariable = "AGENTSYNC_TEST_RUN_MAIN"

// peakRSSVariable names a file in which the test binary, run as agentsync,
// writes its peak resident memory (VmHWM) when agentsync returns. The
// rusage of a child is no measure of it: Linux carries the parent's peak
// over into the child's across exec.
const peakRSSVariable = "AGENTSYNC_TEST_PEAK_RSS_FILE"

// cpuProfileVariable names a file to which the test binary, run as
// agentsync, writes its CPU profile (see runMeasured).
const cpuProfileVariable = "AGENTSYNC_TEST_CPU_PROFILE"

// TestMain lets the test binary be agentsync itself for the tests that
// need a real process (to receive a real signal): building a separate
// binary cost a compile and left it in the temporary directory.
func TestMain(m *testing.M) {
	if os.Getenv(asMainVariable) == "1" {
		file := os.Getenv(peakRSSVariable)
		if file == "" {
			main()
			return
		}
		var profile *os.File
		if name := os.Getenv(cpuProfileVariable); name != "" {
			var err error
			if profile, err = os.Create(name); err == nil {
				err = pprof.StartCPUProfile(profile)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "CPU profile:", err)
				os.Exit(3)
			}
		}
		code := newApp(os.Stdout, os.Stderr, os.Getenv).main(context.Background(), os.Args[1:])
		if profile != nil {
			pprof.StopCPUProfile()
			if err := profile.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "CPU profile:", err)
				os.Exit(3)
			}
		}
		if err := os.WriteFile(file, []byte(peakRSS()), 0o600); err != nil {
			os.Exit(3)
		}
		os.Exit(code)
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

// peakRSS returns the VmHWM line's value of /proc/self/status ("123456 kB").
func peakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ""
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
