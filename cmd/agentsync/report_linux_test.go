package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openTerminal opens a pseudo-terminal and returns its two ends.
func openTerminal(t *testing.T) (terminal, controller *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, m
}

// TestReportRefusesToDumpHTMLOnATerminal: without --out, report writes to
// standard output only when it is not a terminal; on one it says how to
// write a file instead, before it reads anything.
func TestReportRefusesToDumpHTMLOnATerminal(t *testing.T) {
	t.Parallel()
	term, _ := openTerminal(t)
	var errOut bytes.Buffer
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
	a := newApp(term, &errOut, func(k string) string { return env[k] })
	code := a.main(context.Background(), []string{"report"})
	if code != exitUsage || !strings.Contains(errOut.String(), "--out") || !strings.Contains(errOut.String(), "terminal") {
		t.Errorf("report on a terminal: exit %d, stderr %q; want exit %d saying to use --out", code, errOut.String(), exitUsage)
	}
}

// TestReportFileKeepsItsModeOrFollowsTheUmask: report --out creates a file
// as the umask allows (not always 0644), and replacing a report keeps the
// replaced file's mode instead of widening it. Not parallel: it sets the
// process's umask.
func TestReportFileKeepsItsModeOrFollowsTheUmask(t *testing.T) {
	reader, _ := readerDatabase(t)
	env := map[string]string{"DATABASE_URL": reader}
	dir := t.TempDir()
	mode := func(path string) os.FileMode {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	fresh := filepath.Join(dir, "fresh.html")
	old := syscall.Umask(0o077)
	code, _, stderr := runCLI(t, env, "report", "--out", fresh)
	syscall.Umask(old)
	if code != exitOK {
		t.Fatalf("report --out: exit %d, %s", code, stderr)
	}
	if got := mode(fresh); got != 0o600 {
		t.Errorf("with umask 077 the report is %03o, want 0600", got)
	}
	private := filepath.Join(dir, "private.html")
	if err := os.WriteFile(private, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(private, 0o600)
	if code, _, stderr := runCLI(t, env, "report", "--out", private); code != exitOK {
		t.Fatalf("report --out over a file: exit %d, %s", code, stderr)
	}
	if got := mode(private); got != 0o600 {
		t.Errorf("replacing a 0600 report left it %03o", got)
	}
}
