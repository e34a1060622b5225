package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/embeddedpg"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/report"
)

// demoSettings are the settings of agentsync demo.
type demoSettings struct {
	Agents      string `name:"agents" placeholder:"n" default:"300" help:"n agents in the simulated fleet whose story the demo tells"`
	Tenants     string `name:"tenants" placeholder:"n" default:"3" help:"n simulated tenants side by side: the story's, and others of ${demo_other_agents} agents each"`
	Days        string `name:"days" placeholder:"n" default:"30" help:"n simulated days"`
	SyncsPerDay string `name:"syncs-per-day" placeholder:"n" default:"1" help:"n syncs a simulated day, evenly spaced (24: hourly history)"`
	Seed        string `name:"seed" placeholder:"n" default:"1" help:"seed n of the fleet: the same seed tells the same story"`
	FailDay     string `name:"fail-day" placeholder:"day" help:"the day whose sync fails on purpose (default: the middle one; 0 for none)"`
	Database    string `name:"demo-database" placeholder:"name" default:"${demo_database}" help:"the database name to drop and create for the demo; it must start with ${demo_database}"`
	Report      string `name:"report" placeholder:"file" default:"${demo_report}" help:"write the HTML report of the history (as agentsync report does) to file"`
	Embedded    bool   `name:"embedded-postgres" help:"always use an embedded PostgreSQL, even when another server answers"`
}

// demoCommand is agentsync demo.
type demoCommand struct {
	databaseSettings
	demoSettings
	LogFormat string `name:"log-format" envvar:"LOG_FORMAT" placeholder:"format" help:"log format: text or json (default: text on a terminal, else json)"`
	LogLevel  string `name:"log-level" envvar:"LOG_LEVEL" placeholder:"level" default:"warn" help:"log level of the job's own logs: debug, info, warn or error"`
	noArguments
}

// Help is the command's description, for kong.
func (*demoCommand) Help() string {
	return "Runs the whole job against simulated tenants served on a loopback port: a fleet of\n" +
		"agents drifting over a month of simulated time, synced once a simulated day (or more: see\n" +
		"--syncs-per-day) into a real PostgreSQL, one of the syncs failing on purpose, with smaller\n" +
		"tenants synced beside it (--tenants). Then it prints what the history shows: the runs,\n" +
		"each tenant's status, version drift, the latest changes, the stale agents and the scan\n" +
		"coverage, and writes the HTML report of agentsync report to " + demoReportFile + "\n" +
		"in the current directory.\n\n" +
		"The PostgreSQL is DATABASE_URL when set, else the server on localhost:5432 (as user\n" +
		"postgres, then as you), else an embedded server started from the PostgreSQL binaries\n" +
		"installed here. The demo writes only to its own database, " + demoDatabaseName + ", which it drops\n" +
		"and creates again on each run."
}

func (*demoCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "the demo ran", exitFailure: "no usable PostgreSQL, or the demo failed", exitUsage: usageExit}
}

func (c *demoCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	s := c.demoSettings
	plan, err := parseDemoPlan(s)
	if err != nil {
		return a.fail(err)
	}
	prog, logger, err := newProgressLogger(a.stderr, logSettings{Format: c.LogFormat, Level: c.LogLevel})
	if err != nil {
		return a.fail(err)
	}
	// The report is written last: a place it cannot go fails the demo now,
	// not after a month of syncs.
	if err := report.CheckWritable(s.Report); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: --report %s: cannot write the report there (%v); give --report a file in a directory you can write\n", s.Report, errorText(err))
		return exitFailure
	}
	// A closed stdout (agentsync demo | head) ends the demo too, rather
	// than killing the process before it stops an embedded server.
	ctx, stop := signal.NotifyContext(ctx, append(stopSignals, syscall.SIGPIPE)...)
	defer stop()

	began := time.Now()
	w := a.stdout
	fmt.Fprintln(w, "agentsync demo: finding a PostgreSQL server...")
	database, err := openDemoDatabase(ctx, logger, c.URL, plan.database, s.Embedded)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	defer database.close()
	fmt.Fprintf(w, "Database: %s on %s, created anew.\n", plan.database, database.where)
	if _, err := migrations.Up(ctx, stdlib.OpenDBFromPool(database.pool), nil); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	lastSync, err := runDemoSyncs(ctx, w, logger, prog, database.pool, plan)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	if plan.tenants > 1 {
		if err := printDemoTenants(ctx, w, database.pool, lastSync, plan); err != nil {
			fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(w, "\n%s in detail:\n", demoTenantName(0))
	}
	if err := report.WriteText(ctx, w, database.pool, strings.ToLower(defendertest.DefaultTenantID), lastSync); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	if err := writeDemoReport(ctx, w, database.pool, s.Report, plan); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	if err := report.WriteCoverageText(ctx, w, database.pool, strings.ToLower(defendertest.DefaultTenantID)); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(w, "\nDone in %s.\n", time.Since(began).Round(100*time.Millisecond))
	if database.embedded {
		fmt.Fprintln(w, "The embedded PostgreSQL stops now, and its data goes with it; set DATABASE_URL to keep the demo's data.")
	} else {
		fmt.Fprintf(w, "Explore the history yourself (docs/schema.md describes it):\n  psql '%s'\n", database.psql)
		fmt.Fprintf(w, "  then, for example: %s\n", demoAsOfQuery(plan))
	}
	return exitOK
}

// demoAsOfQuery is the query the demo suggests: the fleet as it was
// halfway through the story, a time that one of its syncs saw whatever
// the number of days.
func demoAsOfQuery(plan demoPlan) string {
	ago := fmt.Sprintf("%d days", plan.days/2)
	switch {
	case plan.days < 2:
		ago = "6 hours" // the story's one day began at least 12 hours ago
	case plan.days < 4:
		ago = "1 day"
	}
	return fmt.Sprintf("SELECT * FROM defender.scan_agents_as_of(now() - interval '%s') LIMIT 5;", ago)
}

// demoReportFile is where the demo writes its HTML report unless told
// otherwise.
const demoReportFile = "agentsync-demo-report.html"

// writeDemoReport writes the HTML report of the demo's whole story to path
// and says where it is.
func writeDemoReport(ctx context.Context, w io.Writer, pool *pgxpool.Pool, path string, plan demoPlan) error {
	now := time.Now().UTC()
	opt := report.Options{Now: now, From: now.AddDate(0, 0, -plan.days-1)}
	if err := writeReportFile(ctx, path, pool, opt); err != nil {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Fprintf(w, "\nReport: %s\n  the same history in charts, one HTML file that opens offline; agentsync report writes it from real syncs.\n", path)
	return nil
}

// demoPlan is the story the demo tells.
type demoPlan struct {
	agents, tenants int
	days, failDay   int
	syncsPerDay     int
	seed            int64
	database        string
}

// demoDatabasePattern keeps the demo from dropping any database but its
// own: a mistyped --demo-database must not destroy real data.
var demoDatabasePattern = regexp.MustCompile(`^` + demoDatabaseName + `[a-z0-9_]*$`)

func parseDemoPlan(s demoSettings) (demoPlan, error) {
	var p demoPlan
	var err error
	if p.agents, err = strconv.Atoi(s.Agents); err != nil || p.agents < 1 {
		return p, fmt.Errorf("--agents %q: want a positive number", s.Agents)
	}
	if p.tenants, err = strconv.Atoi(s.Tenants); err != nil || p.tenants < 1 || p.tenants > 100 {
		return p, fmt.Errorf("--tenants %q: want a number from 1 to 100", s.Tenants)
	}
	if p.days, err = strconv.Atoi(s.Days); err != nil || p.days < 1 {
		return p, fmt.Errorf("--days %q: want a positive number", s.Days)
	}
	if p.syncsPerDay, err = strconv.Atoi(s.SyncsPerDay); err != nil || p.syncsPerDay < 1 || p.syncsPerDay > 1440 {
		return p, fmt.Errorf("--syncs-per-day %q: want a number from 1 to 1440", s.SyncsPerDay)
	}
	if p.seed, err = strconv.ParseInt(s.Seed, 10, 64); err != nil {
		return p, fmt.Errorf("--seed %q: want an integer", s.Seed)
	}
	if !demoDatabasePattern.MatchString(s.Database) {
		return p, fmt.Errorf("--demo-database %q: the name must start with %s (lower case letters, digits, _)", s.Database, demoDatabaseName)
	}
	p.database = s.Database
	p.failDay = (p.days + 1) / 2
	if s.FailDay != "" {
		if p.failDay, err = strconv.Atoi(s.FailDay); err != nil || p.failDay < 0 || p.failDay > p.days {
			return p, fmt.Errorf("--fail-day %q: want a day from 1 to %d, or 0 for none", s.FailDay, p.days)
		}
	}
	return p, nil
}

// demoPageSize makes the simulated tenant page its listing, as a large
// tenant's would be.
const demoPageSize = 100

// runDemoSyncs serves a simulated tenant on a loopback port and syncs it
// once a simulated day into pool, printing one line a day. It returns the
// simulated time of the last sync.
func runDemoSyncs(ctx context.Context, w io.Writer, logger *slog.Logger, prog *progress, pool *pgxpool.Pool, plan demoPlan) (time.Time, error) {
	// The story ends yesterday, so the dates look current. Each simulated
	// day is a day of the calendar (UTC), its syncs within it, so that the
	// day a line of the table shows is the day the history, the report and
	// agentsync status give its syncs.
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(-time.Duration(plan.days) * 24 * time.Hour)
	fleet := defendertest.NewFleet(plan.seed, plan.agents, start)
	tenant := defendertest.New(defendertest.WithFleet(fleet, start), defendertest.WithPageSize(demoPageSize))
	all := append([]*defendertest.Tenant{tenant},
		defendertest.FleetTenants(plan.tenants-1, demoOtherAgents, plan.seed+1, start, start, defendertest.WithPageSize(demoPageSize))...)
	srv := defendertest.NewTenantsServer(all...)
	defer srv.Close()

	now := start
	syncers := make([]demoTenant, len(all))
	for i, t := range all {
		d, err := newDemoTenant(pool, logger, prog, srv, t, demoTenantName(i), func() time.Time { return now })
		if err != nil {
			return time.Time{}, err
		}
		syncers[i] = d
	}
	loader := syncers[0].loader

	every := 24 * time.Hour / time.Duration(plan.syncsPerDay)
	cadence := "one sync a day, at noon"
	if plan.syncsPerDay > 1 {
		cadence = fmt.Sprintf("%d syncs a day, one every %s; each line shows the day's last", plan.syncsPerDay, every)
	}
	fmt.Fprintf(w, "Simulated tenant %s on %s: %d agents over %d days, %s.\n", syncers[0].name, srv.URL, plan.agents, plan.days, cadence)
	var others []string
	for _, d := range syncers[1:] {
		others = append(others, d.name)
	}
	if len(others) > 0 {
		fmt.Fprintf(w, "Synced beside it, from the same server and application: %s, %d agents each.\n",
			strings.Join(others, ", "), demoOtherAgents)
	}
	fmt.Fprintln(w)
	table := report.NewDayTable(w, plan.syncsPerDay, others...)
	failedPage := 0
	for day := 1; day <= plan.days; day++ {
		var last load.Result
		ok, failed := 0, false
		otherOK := make([]int, len(others))
		otherListed := make([]int, len(others))
		for k := 1; k <= plan.syncsPerDay; k++ {
			// Mid-interval: noon with one sync a day, half past each hour
			// with 24.
			now = start.Add(time.Duration(day-1)*24*time.Hour + time.Duration(k-1)*every + every/2)
			for _, t := range all {
				t.SetTime(now)
			}
			failing := day == plan.failDay && k == 1
			if failing {
				// Defender refuses the second page (the only one of a fleet
				// that fits one): the listing is incomplete, so the loader
				// must change nothing and record the run failed.
				failedPage = 2
				if len(tenant.Agents()) <= demoPageSize {
					failedPage = 1
				}
				tenant.Inject(defendertest.Status(403).OnPage(failedPage))
			}
			label := fmt.Sprintf("day %d/%d", day, plan.days)
			res, err, scansErr := demoSync(ctx, loader, syncers[0].client, prog, label+", "+syncers[0].name)
			for i, d := range syncers[1:] {
				if ctx.Err() != nil {
					break
				}
				r, err, scansErr := demoSync(ctx, d.loader, d.client, prog, label+", "+d.name)
				if err = errors.Join(err, scansErr); err != nil && ctx.Err() == nil {
					prog.Done()
					return time.Time{}, fmt.Errorf("day %d: tenant %s: %w", day, d.name, err)
				}
				otherOK[i]++
				otherListed[i] = r.Seen
			}
			prog.Done()
			switch {
			case ctx.Err() != nil:
				return time.Time{}, context.Cause(ctx)
			case scansErr != nil && !failing:
				return time.Time{}, fmt.Errorf("day %d: %w", day, scansErr)
			case err != nil && failing:
				failed = true
				last = res
				continue
			case err != nil:
				return time.Time{}, fmt.Errorf("sync of day %d: %w", day, err)
			case failing:
				return time.Time{}, fmt.Errorf("the sync of day %d was to fail on purpose, but succeeded", day)
			}
			ok++
			last = res
		}
		cells := make([]string, len(others))
		for i := range cells {
			cells[i] = report.OtherTenant(otherOK[i], plan.syncsPerDay, otherListed[i])
		}
		prog.milestone(fmt.Sprintf("day %d/%d synced (%s)", day, plan.days, now.Format(time.DateOnly)))
		if ok == 0 {
			table.Failed(day, now, last.APIRequests, cells...)
			continue
		}
		changed, seen, err := report.RunCounts(ctx, pool, loader.TenantID(), last.RunID)
		if err != nil {
			return time.Time{}, err
		}
		table.Synced(day, now, report.DayCounts{Listed: last.Seen, New: last.Inserted, Changed: changed, Seen: seen,
			Deleted: last.Deleted, Requests: last.APIRequests, SyncsOK: ok, SomeFailed: failed}, cells...)
	}
	if err := table.Close(); err != nil {
		return time.Time{}, err
	}
	if plan.failDay > 0 {
		which := "page 2, so the listing was incomplete"
		if failedPage == 1 {
			which = "the listing's only page"
		}
		if plan.syncsPerDay > 1 {
			which += ", in the day's first sync"
		}
		next := "the next day's sync"
		if plan.syncsPerDay > 1 {
			next = "the next sync"
		}
		fmt.Fprintf(w, "* Day %d failed on purpose: Defender answered 403 on %s.\n"+
			"  The sync applied nothing and is recorded failed in defender.sync_runs; %s\n"+
			"  picked up everything.\n", plan.failDay, which, next)
		if plan.tenants > 1 {
			fmt.Fprintln(w, "  The other tenants' syncs of that day went through: a failing tenant stops no other.")
		}
	}
	return now, nil
}

// ---- database: where the demo writes ----

// demoDatabaseName is the demo's own database, dropped and created anew on
// every run, so the demo is re-runnable and never touches other data.
const demoDatabaseName = "agentsync_demo"

// demoDatabase is the demo's database and how a user reaches it.
type demoDatabase struct {
	pool *pgxpool.Pool
	// where says which server it is, for the user.
	where string
	// psql is a connection string for psql, without any password.
	psql string
	// embedded is set when the demo started its own server, which stops
	// with the demo.
	embedded bool
	stop     func()
}

func (d *demoDatabase) close() {
	d.pool.Close()
	if d.stop != nil {
		d.stop()
	}
}

// openDemoDatabase finds a PostgreSQL server: DATABASE_URL when set, else one
// answering on localhost:5432 as user postgres or as the current OS user,
// else an embedded one (started from the PostgreSQL binaries installed on
// this machine when there are any). On it, it drops and creates the demo
// database and returns a pool connected to it.
func openDemoDatabase(ctx context.Context, logger *slog.Logger, databaseURL, name string, forceEmbedded bool) (*demoDatabase, error) {
	if databaseURL != "" && !forceEmbedded {
		return recreateDemoDatabase(ctx, databaseURL, name, "DATABASE_URL")
	}
	var tried []string
	if !forceEmbedded {
		roles := []string{"postgres"}
		if u, err := user.Current(); err == nil && u.Username != "postgres" {
			roles = append(roles, u.Username)
		}
		for _, role := range roles {
			url := (&neturl.URL{Scheme: "postgres", User: neturl.User(role), Host: "localhost:5432", Path: "/postgres",
				RawQuery: "sslmode=prefer&connect_timeout=3"}).String()
			db, err := recreateDemoDatabase(ctx, url, name, "the local server")
			if err == nil {
				return db, nil
			}
			logger.Debug("demo: local server unusable", "user", role, "error", err)
			tried = append(tried, fmt.Sprintf("localhost:5432 as %s: %v", role, err))
		}
	}
	db, err := startEmbeddedPostgres(ctx, logger, name)
	if err != nil {
		tried = append(tried, "embedded PostgreSQL: "+err.Error())
		return nil, fmt.Errorf("no PostgreSQL to run the demo in; set DATABASE_URL to a server where the user may create databases. Tried:\n  %s", strings.Join(tried, "\n  "))
	}
	return db, nil
}

// recreateDemoDatabase connects to the server of url as an administrator,
// drops and creates the demo database name, and connects a pool to it.
func recreateDemoDatabase(ctx context.Context, url, name, where string) (*demoDatabase, error) {
	if !demoDatabasePattern.MatchString(name) {
		// Checked again here, next to the DROP, whatever the caller did.
		return nil, fmt.Errorf("refusing to drop database %q: not a demo database", name)
	}
	admin, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	if admin.Database == name {
		// The demo database cannot be dropped while connected to it.
		admin.Database = "postgres"
	}
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", describeServer(&admin.Config), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, stmt := range []string{
		// WITH (FORCE) ends the sessions of a psql left open on the demo.
		"DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)",
		"CREATE DATABASE " + pgx.Identifier{name}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", stmt, describeServer(&admin.Config), err)
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", redactConnErr(err))
	}
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the demo database: %w", err)
	}
	return &demoDatabase{pool: pool, where: where + " (" + describeServer(&cfg.ConnConfig.Config) + ")", psql: psqlURL(&cfg.ConnConfig.Config)}, nil
}

// describeServer names a server without any credential.
func describeServer(c *pgconn.Config) string {
	return fmt.Sprintf("%s@%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))))
}

// psqlURL is a connection string for psql to c's database. It never holds
// the password: psql asks for one, or finds it in ~/.pgpass or PGPASSWORD.
func psqlURL(c *pgconn.Config) string {
	if strings.HasPrefix(c.Host, "/") { // a Unix socket directory
		q := neturl.Values{"host": {c.Host}, "port": {strconv.Itoa(int(c.Port))}, "user": {c.User}}
		return "postgres:///" + c.Database + "?" + q.Encode()
	}
	u := neturl.URL{Scheme: "postgres", User: neturl.User(c.User), Host: net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), Path: "/" + c.Database}
	return u.String()
}

// startEmbeddedPostgres starts a throw-away PostgreSQL server from the
// binaries installed on this machine (as an unprivileged user when run as
// root) and creates the demo database name on it. The server and its files
// go when the returned database is closed.
func startEmbeddedPostgres(ctx context.Context, logger *slog.Logger, name string) (*demoDatabase, error) {
	bin, err := embeddedpg.FindBinaries()
	if err != nil {
		return nil, err
	}
	logger.Info("demo: starting an embedded PostgreSQL from the installed binaries", "binaries", bin)
	server, err := embeddedpg.Start(bin)
	if err != nil {
		return nil, err
	}
	stop := func() {
		if err := server.Stop(); err != nil {
			logger.Warn("demo: stopping the embedded PostgreSQL", "error", err)
		}
	}
	db, err := recreateDemoDatabase(ctx, server.URL, name, "an embedded server run as "+server.User)
	if err != nil {
		stop()
		return nil, err
	}
	db.embedded, db.stop = true, stop
	return db, nil
}
