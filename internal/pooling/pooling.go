// Package pooling configures agentsync's PostgreSQL connections so that
// they work the same directly and through a transaction pooler (PgBouncer
// in pool_mode = transaction, the built-in poolers of managed services):
// no statement relies on server-side state that outlives its transaction.
package pooling

import (
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultExecMode is how statements run unless the connection string says
// otherwise. pgx's own default prepares named statements and reuses them
// by name; behind a transaction pooler the next transaction may reach
// another server connection, which has not got them (or has another
// client's: "prepared statement stmtcache_… already exists"). Describing a
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
	if !explicitMode.MatchString(connString) {
		cfg.DefaultQueryExecMode = DefaultExecMode
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = ApplicationName
	}
}
