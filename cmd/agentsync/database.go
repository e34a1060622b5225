package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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

// openPool connects a pgx pool to url and checks that the server answers.
func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}
