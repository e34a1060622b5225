package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/migrations"
)

func runMigrate(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("migrate", "[up|down|status]",
		"Applies every pending migration (up, the default), rolls back the latest one (down),\nor lists the migrations and whether each is applied (status). Several processes\nmay migrate at once: a PostgreSQL advisory lock serializes them.")
	var db databaseSettings
	var logs logSettings
	db.register(fs)
	logs.register(fs)
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	direction := "up"
	switch fs.NArg() {
	case 0:
	case 1:
		direction = fs.Arg(0)
	default:
		return fs.fail(fmt.Errorf("want one of up, down or status, got %q", fs.Args()))
	}
	if direction != "up" && direction != "down" && direction != "status" {
		return fs.fail(fmt.Errorf("unknown direction %q: want up, down or status", direction))
	}
	logger, err := newLogger(a.stderr, logs)
	if err != nil {
		return fs.fail(err)
	}
	if err := db.check(a.getenv); err != nil {
		return fs.fail(err)
	}
	sqlDB, err := openSQL(db.URL, logger)
	if err != nil {
		return fs.fail(err)
	}
	defer sqlDB.Close()
	if err := migrate(ctx, a, sqlDB, direction, logger); err != nil {
		logger.Error("migrate failed", "direction", direction, "error", err)
		return exitFailure
	}
	return exitOK
}

func migrate(ctx context.Context, a *app, db *sql.DB, direction string, logger *slog.Logger) error {
	p, err := migrations.NewProvider(db, logger)
	if err != nil {
		return err
	}
	switch direction {
	case "up":
		results, err := p.Up(ctx)
		if err != nil {
			return err
		}
		current, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "applied %d migration(s); schema version %d\n", len(results), current)
	case "down":
		result, err := p.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "rolled back %s\n", result.Source.Path)
	case "status":
		statuses, err := p.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
		for _, s := range statuses {
			applied := "-"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.Source.Path, s.State, applied)
		}
		return tw.Flush()
	}
	return nil
}

// openSQL opens a database/sql handle through pgx for goose. An empty url
// means the PG* variables. A parse error never echoes the url, which may
// hold a password.
func openSQL(url string, logger *slog.Logger) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	cfg.OnNotice = logNotice(logger)
	return stdlib.OpenDB(*cfg), nil
}
