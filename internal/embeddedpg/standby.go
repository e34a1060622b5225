package embeddedpg

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// StartStandby makes a hot standby of s with pg_basebackup (streaming
// replication, the way a managed service's read replica works), starts it
// on another free port and waits until it accepts connections: a
// read-only copy that follows s. Its URL differs from s's by the port. Stop
// it with Stop; stop it before s.
func (s *Server) StartStandby() (st *Server, err error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, err
	}
	password, _ := u.User.Password()
	dir, err := os.MkdirTemp("", "agentsync-embedded-standby-")
	if err != nil {
		return nil, err
	}
	st = &Server{Host: s.Host, User: s.User, bin: s.bin, dir: dir, data: filepath.Join(dir, "data"), run: s.run}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := st.run.own(dir); err != nil {
		return nil, err
	}
	// The password through a file, never on a command line: the standby
	// keeps it to connect to the primary (primary_conninfo's passfile).
	passfile := filepath.Join(dir, "pgpass")
	if err := os.WriteFile(passfile, []byte(fmt.Sprintf("%s:%d:*:postgres:%s\n", s.Host, s.Port, password)), 0o600); err != nil {
		return nil, err
	}
	if err := st.run.own(passfile); err != nil {
		return nil, err
	}
	conninfo := fmt.Sprintf("host=%s port=%d user=postgres passfile=%s", s.Host, s.Port, passfile)
	if err := st.exec("pg_basebackup", "--pgdata", st.data, "--dbname", conninfo,
		"--wal-method", "stream", "--write-recovery-conf", "--checkpoint", "fast", "--no-sync"); err != nil {
		return nil, err
	}
	if st.Port, err = freePort(); err != nil {
		return nil, err
	}
	options := fmt.Sprintf("-c listen_addresses=%s -p %d -c unix_socket_directories=%s -c fsync=off -c hot_standby=on", st.Host, st.Port, dir)
	if err := st.exec("pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata", st.data,
		"--log", filepath.Join(dir, "server.log"), "-o", options); err != nil {
		st.exec("pg_ctl", "stop", "--mode", "immediate", "--pgdata", st.data)
		return nil, err
	}
	u.Host = net.JoinHostPort(st.Host, strconv.Itoa(st.Port))
	st.URL = u.String()
	return st, nil
}
