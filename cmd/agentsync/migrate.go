package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/internal/pooling"
	"github.com/agentsync/agentsync/migrations"
)

// migrateCommand is agentsync migrate.
type migrateCommand struct {
	Direction []string `arg:"" optional:"" placeholder:"up|down|status|grants"`
	databaseSettings
	logSettings
}

// Help is the command's description, for kong.
func (*migrateCommand) Help() string {
	return "Applies every pending migration (up, the default), rolls back the latest one (down),\nlists the migrations and whether each is applied (status), or prints the SQL that gives the\nreporting role defender_reader its privileges when the migrating user may not create roles\n(grants: an administrator's step, then the owner's). Several processes\nmay migrate at once: a lock held in a table (agentsync.goose_lock) serializes them.\nstatus writes nothing and runs on a hot standby, as the migrating user."
}

func (*migrateCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "done", exitFailure: "a migration or the database failed", exitUsage: usageExit}
}

func (c *migrateCommand) run(ctx context.Context, a *app) int {
	direction := "up"
	switch len(c.Direction) {
	case 0:
	case 1:
		direction = c.Direction[0]
	default:
		return a.fail(fmt.Errorf("want one of up, down, status or grants, got %q", c.Direction))
	}
	if direction != "up" && direction != "down" && direction != "status" && direction != "grants" {
		return a.fail(fmt.Errorf("unknown direction %q: want up, down, status or grants", direction))
	}
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	if err := c.databaseSettings.check(a.getenv); err != nil {
		return a.fail(err)
	}
	sqlDB, err := openSQL(c.URL, logger)
	if err != nil {
		return a.fail(err)
	}
	defer sqlDB.Close()
	if err := migrate(ctx, a, sqlDB, direction, logger); err != nil {
		logger.Error("migrate failed", "direction", direction, "error", err)
		return exitFailure
	}
	return exitOK
}

func migrate(ctx context.Context, a *app, db *sql.DB, direction string, logger *slog.Logger) error {
	switch direction {
	case "status":
		return migrateStatus(ctx, a, db)
	case "grants":
		g, err := migrations.LookUpReaderGrants(ctx, db)
		if err != nil {
			return err
		}
		_, err = io.WriteString(a.stdout, g.Script())
		return err
	}
	p, err := migrations.Open(ctx, db, logger)
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
	}
	return nil
}

// migrateStatus lists the migrations and which are applied. It writes
// nothing, so that it runs on a hot standby.
func migrateStatus(ctx context.Context, a *app, db *sql.DB) error {
	statuses, err := migrations.Status(ctx, db)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE\tAPPLIED AT")
	for _, s := range statuses {
		state, applied := "pending", "-"
		if s.Applied {
			state, applied = "applied", s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.Path, state, applied)
	}
	return tw.Flush()
}

// openSQL opens a database/sql handle through pgx for goose. An empty url
// means the PG* variables. A parse error never echoes the url, which may
// hold a password.
func openSQL(url string, logger *slog.Logger) (*sql.DB, error) {
	cfg, err := pooling.ParseConnConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	cfg.OnNotice = logNotice(logger)
	return stdlib.OpenDB(*cfg), nil
}
