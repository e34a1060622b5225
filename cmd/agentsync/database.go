package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentsync/agentsync/internal/pooling"
	"github.com/agentsync/agentsync/internal/safetext"
)

// redactConnErr turns a connection string parse error into one that cannot
// carry the connection string, and so no password.
func redactConnErr(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	inner := errors.Unwrap(pe)
	var ue *url.Error
	if errors.As(inner, &ue) {
		inner = ue.Err
	}
	if inner == nil {
		return errors.New("cannot parse it (value not shown: it may contain a password)")
	}
	return fmt.Errorf("cannot parse it (value not shown: it may contain a password): %w", inner)
}

// libpqServerVariables are the PG* variables that tell libpq (and pgx)
// which server, database and user to connect to. PGPASSFILE, PGSSLMODE and
// the like only say how.
var libpqServerVariables = []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}

// errNoDatabase is the configuration error of a command that needs a
// database and was given none. libpq's defaults (a local socket, a
// database named after the OS user) would create the schema wherever they
// point, so nothing is assumed.
var errNoDatabase = errors.New("no database given: set DATABASE_URL (or --database-url), for example " +
	"DATABASE_URL=postgres://agentsync@db.example.com:5432/agentsync, or libpq's PGHOST, PGDATABASE and PGUSER; " +
	"keep the password in a pgpass file named by PGPASSFILE")

// check validates the database settings without connecting: a database
// is given, by DATABASE_URL or the PG* variables that locate a server, and
// the connection string parses. The error never shows the string.
func (s databaseSettings) check(getenv func(string) string) error {
	if s.URL == "" && !slices.ContainsFunc(libpqServerVariables, func(v string) bool { return getenv(v) != "" }) {
		return errNoDatabase
	}
	if _, err := pgxpool.ParseConfig(s.URL); err != nil {
		return fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	return nil
}

// openPool connects a pgx pool to url and checks that the server answers.
// Its statements run in a mode a transaction pooler carries, or stay
// prepared when a first connection shows it reaches the server itself
// (see internal/pooling).
func openPool(ctx context.Context, url string, logger *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := pooling.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	cfg.ConnConfig.OnNotice = logNotice(logger)
	connectErr := func(err error) error {
		return fmt.Errorf("connect to database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	direct, err := pooling.ChooseExecMode(ctx, cfg, url)
	if err != nil {
		return nil, connectErr(err)
	}
	switch {
	case direct:
		logger.Debug("database connection reaches the server itself: statements are prepared once per connection",
			"default_query_exec_mode", pooling.DirectExecModeName)
	case !pooling.ExplicitMode(url):
		logger.Debug("database connection may go through a pooler: statements are described, not kept prepared",
			"default_query_exec_mode", pooling.DefaultExecModeName)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectErr(err)
	}
	return pool, nil
}

// logNotice logs what the server says besides results: a migration's
// notice that the reporting role could not be created, with the statements
// an administrator should run, must reach the operator.
func logNotice(logger *slog.Logger) pgconn.NoticeHandler {
	return func(_ *pgconn.PgConn, n *pgconn.Notice) {
		attrs := []any{"severity", n.Severity, "message", safetext.Text(n.Message)}
		if n.Hint != "" {
			attrs = append(attrs, "hint", safetext.Text(n.Hint))
		}
		logger.Warn("database notice", attrs...)
	}
}
