package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
)

// stopSignals end the long-running commands (run, simulate) gracefully.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// simulateSettings are the settings of agentsync simulate.
type simulateSettings struct {
	Listen, Agents, PageSize, Seed, Speed, History string
}

func (s *simulateSettings) register(fs *flagSet) {
	fs.String(&s.Listen, "listen", "", "127.0.0.1:8080", "address to serve the simulated tenant on")
	fs.String(&s.Agents, "agents", "", "300", "number of agents the fleet ever has (some join late, some leave)")
	fs.String(&s.PageSize, "page-size", "", "100", "agents per page of the listing")
	fs.String(&s.Seed, "seed", "", "1", "seed of the fleet: the same seed gives the same agents")
	fs.String(&s.Speed, "speed", "", "1", "simulated seconds per real second: 1 drifts with the wall clock; 1440 makes a day pass every minute")
	fs.String(&s.History, "history", "", "720h", "age of the fleet at start: how much simulated history it already has")
}

// simulation is the settings of a simulated tenant, parsed.
type simulation struct {
	agents, pageSize int
	seed             int64
	speed            float64
	history          time.Duration
	tenantID         string
	clientID         string
	secret           string
	secretFile       string // where the secret came from, when from a file
	secretGiven      bool
}

func parseSimulation(s simulateSettings, def defenderSettings) (simulation, error) {
	var sim simulation
	var err error
	if sim.agents, err = strconv.Atoi(s.Agents); err != nil || sim.agents < 0 {
		return sim, fmt.Errorf("--agents %q: want a number of agents", s.Agents)
	}
	if sim.pageSize, err = strconv.Atoi(s.PageSize); err != nil || sim.pageSize < 1 {
		return sim, fmt.Errorf("--page-size %q: want a positive number", s.PageSize)
	}
	if sim.seed, err = strconv.ParseInt(s.Seed, 10, 64); err != nil {
		return sim, fmt.Errorf("--seed %q: want an integer", s.Seed)
	}
	if sim.speed, err = strconv.ParseFloat(s.Speed, 64); err != nil || sim.speed <= 0 {
		return sim, fmt.Errorf("--speed %q: want a positive number", s.Speed)
	}
	if sim.history, err = time.ParseDuration(s.History); err != nil || sim.history < 0 {
		return sim, fmt.Errorf("--history %q: want a duration such as 720h", s.History)
	}
	sim.tenantID, sim.clientID = def.TenantID, def.ClientID
	if sim.tenantID == "" {
		sim.tenantID = defendertest.DefaultTenantID
	}
	if sim.clientID == "" {
		sim.clientID = defendertest.DefaultClientID
	}
	switch {
	case def.ClientSecret != "" && def.ClientSecretFile != "":
		return sim, errors.New("give DEFENDER_CLIENT_SECRET or DEFENDER_CLIENT_SECRET_FILE, not both")
	case def.ClientSecretFile != "":
		if sim.secret, err = secretFromFile("DEFENDER_CLIENT_SECRET_FILE", def.ClientSecretFile); err != nil {
			return sim, err
		}
		sim.secretFile, sim.secretGiven = def.ClientSecretFile, true
	case def.ClientSecret != "":
		sim.secret, sim.secretGiven = def.ClientSecret, true
	default:
		sim.secret = defendertest.DefaultClientSecret
	}
	return sim, nil
}

// simulatedClock maps wall-clock time to the fleet's simulated time: the
// fleet is history old at start and ages speed times faster than the wall
// clock.
type simulatedClock struct {
	start   time.Time // wall clock at start
	speed   float64
	history time.Duration
	now     func() time.Time
}

// fleetStart is the simulated time the fleet was made for.
func (c simulatedClock) fleetStart() time.Time { return c.start.Add(-c.history) }

// at is the simulated time now.
func (c simulatedClock) at() time.Time {
	elapsed := c.now().Sub(c.start)
	return c.start.Add(time.Duration(float64(elapsed) * c.speed))
}

// driftingHandler serves tenant, moving the fleet to the simulated time at
// the start of each listing of agents or definitions. Later pages of a
// listing see the fleet as the first page did, as a real API's paging
// snapshot would.
func driftingHandler(tenant *defendertest.Tenant, clock simulatedClock) http.Handler {
	inner := tenant.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == defendertest.ListPath || r.URL.Path == defendertest.DefinitionsPath) && r.URL.Query().Get("$skiptoken") == "" {
			tenant.SetTime(clock.at())
		}
		inner.ServeHTTP(w, r)
	})
}

func runSimulate(ctx context.Context, a *app, args []string) int {
	fs := a.newFlagSet("simulate", "",
		"Serves a simulated Defender tenant over HTTP: the token endpoint at\n"+
			"/{tenant}/oauth2/v2.0/token and the API at /api/DeviceAuthenticatedScanAgents. Its agents\n"+
			"drift with time (versions roll out, hosts go stale, agents come and go), deterministically\n"+
			"for a seed. It prints the environment that points agentsync at it. Stop it with Ctrl-C.")
	var s simulateSettings
	var def defenderSettings
	var logs logSettings
	s.register(fs)
	fs.String(&def.TenantID, "tenant-id", "DEFENDER_TENANT_ID", "", "tenant id the simulator answers for (default: a fixed test GUID)")
	fs.String(&def.ClientID, "client-id", "DEFENDER_CLIENT_ID", "", "client id it accepts (default: a fixed test GUID)")
	fs.String(&def.ClientSecret, "client-secret", "DEFENDER_CLIENT_SECRET", "", "client secret it accepts (default: a fixed, public test secret)")
	fs.String(&def.ClientSecretFile, "client-secret-file", "DEFENDER_CLIENT_SECRET_FILE", "", "file holding the client secret it accepts")
	logs.register(fs)
	if code, done := fs.parseOrExit(args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(a.stderr, "agentsync simulate: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	logger, err := newLogger(a.stderr, logs)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync simulate: %v\n", err)
		return exitUsage
	}
	sim, err := parseSimulation(s, def)
	if err != nil {
		fmt.Fprintf(a.stderr, "agentsync simulate: %v\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		logger.Error("listen", "addr", s.Listen, "error", err)
		return exitFailure
	}

	clock := simulatedClock{start: time.Now().UTC(), speed: sim.speed, history: sim.history, now: time.Now}
	fleet := defendertest.NewFleet(sim.seed, sim.agents, clock.fleetStart())
	tenant := defendertest.New(
		defendertest.WithTenantID(sim.tenantID),
		defendertest.WithClientID(sim.clientID),
		defendertest.WithClientSecret(sim.secret),
		defendertest.WithPageSize(sim.pageSize),
		defendertest.WithFleet(fleet, clock.at()),
	)
	printSimulateEnv(a, ln.Addr(), sim)
	logger.Info("simulated tenant serving", "addr", ln.Addr().String(), "agents_now", len(tenant.Agents()),
		"agents_ever", sim.agents, "page_size", sim.pageSize, "seed", sim.seed, "speed", sim.speed)

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	srv := &http.Server{Handler: driftingHandler(tenant, clock), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		logger.Error("serve", "error", err)
		return exitFailure
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown", "error", err)
	}
	st := tenant.Stats()
	logger.Info("simulated tenant stopped", "token_requests", st.TokenRequests, "api_requests", st.APIRequests)
	return exitOK
}

// printSimulateEnv prints, for a shell, the settings that point agentsync
// at the simulator listening on addr. A secret the user gave is never
// printed: the file is named instead, or the user is told to set it.
func printSimulateEnv(a *app, addr net.Addr, sim simulation) {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	base := "http://" + net.JoinHostPort(host, port)
	w := a.stdout
	fmt.Fprintln(w, "# Point agentsync at this simulated tenant:")
	fmt.Fprintf(w, "export DEFENDER_API_URL=%s\n", base)
	fmt.Fprintf(w, "export DEFENDER_TOKEN_URL=%s%s\n", base, defendertest.TokenPath(sim.tenantID))
	fmt.Fprintf(w, "export DEFENDER_TENANT_ID=%s\n", sim.tenantID)
	fmt.Fprintf(w, "export DEFENDER_CLIENT_ID=%s\n", sim.clientID)
	switch {
	case sim.secretFile != "":
		fmt.Fprintf(w, "export DEFENDER_CLIENT_SECRET_FILE=%s\n", sim.secretFile)
	case sim.secretGiven:
		fmt.Fprintln(w, "# and DEFENDER_CLIENT_SECRET (or _FILE) to the secret you gave the simulator")
	default:
		// The simulator's built-in secret is public (it is in the source).
		fmt.Fprintf(w, "export DEFENDER_CLIENT_SECRET='%s'\n", defendertest.DefaultClientSecret)
	}
}
