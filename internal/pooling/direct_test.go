package pooling_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/internal/pgbouncertest"
	"github.com/agentsync/agentsync/internal/pooling"
)

// chosenMode parses connString as agentsync does, lets ChooseExecMode
// pick the mode, and returns what it chose.
func chosenMode(t *testing.T, connString string) (bool, pgx.QueryExecMode) {
	t.Helper()
	cfg, err := pooling.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := pooling.ChooseExecMode(context.Background(), cfg, connString)
	if err != nil {
		t.Fatal(err)
	}
	return direct, cfg.ConnConfig.DefaultQueryExecMode
}

// TestDirectConnectionsKeepPreparedStatements: a connection to the server
// itself, over TCP or its Unix socket, as a role without privileges, is
// known to be direct, and its statements stay prepared; one through
// PgBouncer is not; a connection string that names a mode keeps it.
func TestDirectConnectionsKeepPreparedStatements(t *testing.T) {
	t.Parallel()
	db := dbtest.URL(t)
	tcp := dbtest.PlainURL(t, db)

	if direct, mode := chosenMode(t, tcp); !direct || mode != pooling.DirectExecMode {
		t.Errorf("over TCP to the server: direct %v, mode %v; want prepared statements", direct, mode)
	}
	if direct, mode := chosenMode(t, tcp+"&default_query_exec_mode="+pooling.DefaultExecModeName); direct || mode != pooling.DefaultExecMode {
		t.Errorf("a URL that names its mode: direct %v, mode %v; want its own mode", direct, mode)
	}

	// The server's Unix socket, where it listens for this machine.
	var dirs, port string
	admin, err := pgx.Connect(context.Background(), dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	err = admin.QueryRow(context.Background(), `SELECT current_setting('unix_socket_directories'), current_setting('port')`).Scan(&dirs, &port)
	admin.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir, _, _ := strings.Cut(dirs, ",")
	if dir = strings.TrimSpace(dir); dir == "" || strings.HasPrefix(dir, "@") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the test server listens on no Unix socket directory (%q); CI tests connections through one", dirs)
		}
		t.Skipf("the test server listens on no Unix socket directory (%q)", dirs)
	}
	u, err := url.Parse(tcp)
	if err != nil {
		t.Fatal(err)
	}
	socket := "host=" + dir + " port=" + port + " user=" + u.User.Username() + " dbname=" + strings.TrimPrefix(u.Path, "/")
	if direct, mode := chosenMode(t, socket); !direct || mode != pooling.DirectExecMode {
		t.Errorf("over the server's Unix socket: direct %v, mode %v; want prepared statements", direct, mode)
	}

	// Through PgBouncer, in either mode, the server's client is PgBouncer.
	for _, poolMode := range []pgbouncertest.Mode{pgbouncertest.Transaction, pgbouncertest.Session} {
		bouncer := pgbouncertest.Start(t, poolMode, u.User.Username())
		if direct, mode := chosenMode(t, bouncer.URL(t, db, "")); direct || mode != pooling.DefaultExecMode {
			t.Errorf("through PgBouncer (%s): direct %v, mode %v; want described statements", poolMode, direct, mode)
		}
	}
}
