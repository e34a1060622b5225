package embeddedpg_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/embeddedpg"
)

// TestServerRunsUnprivilegedAndLeavesNothing starts a server, even as root,
// queries it, checks that its processes do not run as root, and that once
// stopped no file of it is left in the temporary directory.
func TestServerRunsUnprivilegedAndLeavesNothing(t *testing.T) {
	bin, err := embeddedpg.FindBinaries()
	if err != nil {
		t.Skip(err)
	}
	// A temporary directory of its own, that the server's user may enter
	// (t.TempDir's parent is private to the user running the test).
	tmp, err := os.MkdirTemp("", "embeddedpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)

	s, err := embeddedpg.Start(bin)
	if err != nil {
		t.Fatalf("start as uid %d: %v", os.Geteuid(), err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop()
		}
	})
	if !strings.Contains(s.URL, "127.0.0.1:"+strconv.Itoa(s.Port)) {
		t.Errorf("URL does not point at 127.0.0.1:%d", s.Port)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var dataDir string
	var pid int
	if err := conn.QueryRow(ctx, `SELECT current_setting('data_directory'), pg_backend_pid()`).Scan(&dataDir, &pid); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if !strings.HasPrefix(dataDir, tmp+string(filepath.Separator)) {
		t.Errorf("data directory %s is not under TMPDIR %s", dataDir, tmp)
	}
	if uid, ok := processUID(t, pid); ok {
		if os.Geteuid() == 0 && uid == 0 {
			t.Errorf("the server runs as root")
		}
		if os.Geteuid() != 0 && uid != os.Geteuid() {
			t.Errorf("the server runs as uid %d, not as the current user %d", uid, os.Geteuid())
		}
	}

	stopped = true
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in TMPDIR: %s", e.Name())
	}
	if _, err := pgx.Connect(ctx, s.URL); err == nil {
		t.Error("the server still answers after Stop")
	}
}

// processUID reads the real uid of process pid from /proc, where there is
// one.
func processUID(t *testing.T, pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Logf("no /proc: the server's user is not checked: %v", err)
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return uid, true
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return 0, false
}
