// Package pooling configures agentsync's PostgreSQL connections so that
// they work the same directly and through a transaction pooler (PgBouncer
// in pool_mode = transaction, the built-in poolers of managed services):
// no statement relies on server-side state that outlives its transaction,
// unless the connection is known to reach the server itself, where
// statements stay prepared (ChooseExecMode).
package pooling

import (
	"context"
	"net"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultExecMode is how statements run unless the connection string says
// otherwise or the connection is known to be direct (ChooseExecMode).
// pgx's own default prepares named statements and reuses them by name;
// behind a transaction pooler the next transaction may reach another
// server connection, which has not got them (or has another client's:
// "prepared statement stmtcache_… already exists"). Describing a
// statement once and running it as an unnamed statement keeps nothing on
// the server between transactions, and still asks the server for the
// parameter and result types.
const DefaultExecMode = pgx.QueryExecModeCacheDescribe

// DefaultExecModeName is DefaultExecMode as a connection string sets it
// (default_query_exec_mode=cache_describe).
const DefaultExecModeName = "cache_describe"

// explicitMode matches a connection string that sets
// default_query_exec_mode, in URL or keyword/value form.
var explicitMode = regexp.MustCompile(`(?i)(^|[?&\s])default_query_exec_mode\s*=`)

// ParseConfig parses a connection string as pgxpool.ParseConfig does and
// applies ConfigureConn.
func ParseConfig(connString string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	ConfigureConn(cfg.ConnConfig, connString)
	return cfg, nil
}

// ParseConnConfig parses a connection string as pgx.ParseConfig does and
// applies ConfigureConn.
func ParseConnConfig(connString string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	ConfigureConn(cfg, connString)
	return cfg, nil
}

// ApplicationName names agentsync's connections (pg_stat_activity,
// PgBouncer's SHOW CLIENTS, the server's log) unless the connection string
// or PGAPPNAME names them otherwise.
const ApplicationName = "agentsync"

// ConfigureConn sets DefaultExecMode on cfg, parsed from connString,
// unless connString chose a mode itself (default_query_exec_mode=…): a
// user who runs with a session pooler or directly may want pgx's prepared
// statements back. It names the connections ApplicationName.
func ConfigureConn(cfg *pgx.ConnConfig, connString string) {
	if !ExplicitMode(connString) {
		cfg.DefaultQueryExecMode = DefaultExecMode
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = ApplicationName
	}
}

// ExplicitMode reports whether connString chooses its statement mode
// itself (default_query_exec_mode=…), which agentsync then keeps.
func ExplicitMode(connString string) bool {
	return explicitMode.MatchString(connString)
}

// DirectExecMode is the mode of statements on a connection known to reach
// the PostgreSQL server itself: each statement is prepared once per
// connection and run by name, so that the server parses it once and may
// keep its plan. Behind a transaction pooler that state would be lost.
const DirectExecMode = pgx.QueryExecModeCacheStatement

// DirectExecModeName is DirectExecMode as a connection string sets it.
const DirectExecModeName = "cache_statement"

// directProbe is what the server sees of the connection: its client's
// address and port (null over a Unix socket), and the process serving it.
const directProbe = `SELECT pg_catalog.host(pg_catalog.inet_client_addr()), pg_catalog.inet_client_port(), pg_catalog.pg_backend_pid()`

// Direct reports whether conn reaches the PostgreSQL server itself rather
// than a pooler (PgBouncer, a managed service's pooler, a proxy):
//   - over TCP, the server sees the connection come from conn's own local
//     address and port; through a pooler it sees the pooler's connection,
//     so a pooler is never taken for the server (a server seen through
//     address translation is taken for a pooler, which costs speed, not
//     correctness);
//   - over a Unix socket, the process that listens on the socket conn
//     reached is the parent of the server process serving it, the
//     postmaster (Linux, when both are on this machine).
func Direct(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var clientAddr *string
	var clientPort *int32
	var backend int32
	if err := conn.QueryRow(ctx, directProbe).Scan(&clientAddr, &clientPort, &backend); err != nil {
		return false, err
	}
	switch c := conn.PgConn().Conn().(type) {
	case *net.UnixConn:
		if clientAddr != nil {
			return false, nil
		}
		return socketServesBackend(c, int(backend)), nil
	default:
		local, ok := c.LocalAddr().(*net.TCPAddr)
		if !ok || clientAddr == nil || clientPort == nil {
			return false, nil
		}
		ip := net.ParseIP(*clientAddr)
		return ip != nil && ip.Equal(local.IP) && int(*clientPort) == local.Port, nil
	}
}

// ChooseExecMode sets cfg's statement mode for a direct connection to
// DirectExecMode when connString leaves the mode to agentsync and one
// connection made with cfg reaches the server itself (see Direct); else
// cfg keeps DefaultExecMode, which works through any pooler. It reports
// whether it chose DirectExecMode, and fails only when that connection
// cannot be made. A connection string of several servers keeps
// DefaultExecMode: another of them may be reached through a pooler; so
// does a connection on which the question cannot be asked.
func ChooseExecMode(ctx context.Context, cfg *pgxpool.Config, connString string) (bool, error) {
	if ExplicitMode(connString) {
		return false, nil
	}
	for _, f := range cfg.ConnConfig.Fallbacks {
		if f.Host != cfg.ConnConfig.Host || f.Port != cfg.ConnConfig.Port {
			return false, nil
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if direct, err := Direct(ctx, conn); err != nil || !direct {
		return false, nil
	}
	cfg.ConnConfig.DefaultQueryExecMode = DirectExecMode
	return true, nil
}
