// Package pgbouncertest starts a real PgBouncer (Debian's pgbouncer) in
// front of the test server, for tests of agentsync behind a session or a
// transaction pooler. Where pgbouncer is missing the test is skipped,
// except in CI (CI=true), where it fails.
package pgbouncertest

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// Mode is PgBouncer's pool_mode.
type Mode string

// The pool modes agentsync supports.
const (
	Session     Mode = "session"
	Transaction Mode = "transaction"
)

// Binary finds pgbouncer, skipping the test without it (failing it in CI).
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"pgbouncer", "/usr/sbin/pgbouncer"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("pgbouncer is not installed (apt-get install pgbouncer); CI runs this test")
	}
	t.Skip("pgbouncer is not installed (apt-get install pgbouncer)")
	return ""
}

// Bouncer is a running PgBouncer.
type Bouncer struct {
	Addr string // host:port it listens on
	Log  string // path of its log file
}

// Start runs PgBouncer in mode in front of the test server and stops it
// when the test ends. In transaction mode its pools are small (3 server
// connections per database and user), so that clients share server
// connections as they do in production; in session mode a client keeps
// its server connection while connected, so the pools hold every
// client's (40). users may log in (without a password, as the test
// server trusts local connections).
func Start(t testing.TB, mode Mode, users ...string) *Bouncer {
	t.Helper()
	bin := Binary(t)
	server, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	host, port := server.Hostname(), server.Port()
	if port == "" {
		port = "5432"
	}
	dir, err := os.MkdirTemp("", "pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := freePort(t)
	var auth strings.Builder
	for _, u := range users {
		fmt.Fprintf(&auth, "%q \"\"\n", u)
	}
	logFile := filepath.Join(dir, "pgbouncer.log")
	poolSize := 3
	if mode == Session {
		poolSize = 40
	}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 200
logfile = %s
server_reset_query_always = 0
`, host, port, listen, filepath.Join(dir, "users.txt"), mode, poolSize, logFile)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("users.txt", auth.String())
	write("pgbouncer.ini", ini)
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root.
		u := unprivilegedUser(t)
		args = append([]string{"-u", u.Username}, args...)
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if b, err := os.ReadFile(logFile); err == nil {
				t.Logf("pgbouncer log:\n%s", lastLines(string(b), 40))
			}
		}
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(listen))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("pgbouncer does not listen on %s: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Bouncer{Addr: addr, Log: logFile}
}

// URL turns a test database URL into one through the bouncer, as user
// when not empty. It drops what only tests add (an empty search_path,
// which PgBouncer refuses as a startup parameter, and the query mode), so
// that agentsync connects as a user's plain URL would.
func (b *Bouncer) URL(t testing.TB, dbURL, asUser string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = b.Addr
	if asUser != "" {
		u.User = url.User(asUser)
	}
	q := u.Query()
	q.Del("search_path")
	q.Del("default_query_exec_mode")
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// unprivilegedUser is the account PgBouncer runs as when the test runs as
// root: postgres (Debian's packages create it), else nobody.
func unprivilegedUser(t testing.TB) *user.User {
	t.Helper()
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u
		}
	}
	t.Fatal("running as root and no unprivileged user (postgres, nobody) to run pgbouncer as")
	return nil
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
