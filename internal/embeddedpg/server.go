package embeddedpg

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries reports that no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (initdb and pg_ctl): install the PostgreSQL server package (Debian and Ubuntu: postgresql)")

// Server is a running throw-away PostgreSQL server.
type Server struct {
	// URL connects to database postgres as superuser postgres over TCP;
	// it holds the password, so never show it.
	URL string
	// Host and Port are where it listens: 127.0.0.1 and a free port.
	Host string
	Port int
	// User is the OS user its processes run as.
	User string

	bin, dir, data string
	run            runAs
}

// Start initializes a new cluster in a temporary directory with the
// binaries in bin (a directory holding initdb and pg_ctl, see
// FindBinaries), starts it and waits until it accepts connections. Stop
// it with Stop, which removes every file it wrote.
func Start(bin string) (s *Server, err error) {
	run, err := unprivileged()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agentsync-embedded-postgres-")
	if err != nil {
		return nil, err
	}
	s = &Server{Host: "127.0.0.1", User: run.name, bin: bin, dir: dir, data: filepath.Join(dir, "data"), run: run}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	// The server's user owns the directory; nobody else may enter it.
	if err := run.own(dir); err != nil {
		return nil, err
	}

	var secret [16]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(secret[:])
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := run.own(pwfile); err != nil {
		return nil, err
	}
	err = s.exec("initdb", "--pgdata", s.data, "--username", "postgres", "--pwfile", pwfile,
		"--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	os.Remove(pwfile)
	if err != nil {
		return nil, err
	}

	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	// Durability is worthless for a server whose data is deleted when it
	// stops: fsync off makes the demo's syncs faster.
	options := fmt.Sprintf("-c listen_addresses=%s -p %d -c unix_socket_directories=%s -c fsync=off", s.Host, s.Port, dir)
	if err := s.exec("pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata", s.data,
		"--log", filepath.Join(dir, "server.log"), "-o", options); err != nil {
		// A server that started too slowly may still be coming up.
		s.exec("pg_ctl", "stop", "--mode", "immediate", "--pgdata", s.data)
		return nil, err
	}
	s.URL = (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	return s, nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	err := s.exec("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", s.data)
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// exec runs one of the server's programs as the server's user. Its error
// carries the program's output, and the server's log when there is one:
// neither holds the password, which goes through a file.
func (s *Server) exec(program string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(s.bin, program), args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = &out, &out
	s.run.apply(cmd)
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if log, _ := os.ReadFile(filepath.Join(s.dir, "server.log")); len(log) > 0 {
			msg += "\nserver log:\n" + strings.TrimSpace(string(log))
		}
		return fmt.Errorf("%s as user %s: %w\n%s", program, s.run.name, err, msg)
	}
	return nil
}

// FindBinaries returns the directory of the newest installed PostgreSQL
// server binaries: under /usr/lib/postgresql/<major>/bin (Debian, Ubuntu),
// else beside a pg_ctl on PATH.
func FindBinaries() (string, error) {
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	slices.SortFunc(candidates, func(a, b string) int { return majorOf(b) - majorOf(a) })
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, real)
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(filepath.Dir(c), "initdb")); err == nil {
			return filepath.Dir(c), nil
		}
	}
	return "", ErrNoBinaries
}

// majorOf returns the major version in a path like
// /usr/lib/postgresql/15/bin/pg_ctl, or 0.
func majorOf(pgCtl string) int {
	rest, _ := strings.CutPrefix(pgCtl, "/usr/lib/postgresql/")
	major, _, _ := strings.Cut(rest, "/")
	n, _ := strconv.Atoi(major)
	return n
}

// freePort asks the kernel for a free TCP port on the loopback interface.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
