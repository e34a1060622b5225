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
	"strings"
	"syscall"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
)

// stopSignals end the long-running commands (run, simulate) gracefully.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// simulateSettings are the settings of agentsync simulate.
type simulateSettings struct {
	Listen   string `name:"listen" placeholder:"host:port" default:"127.0.0.1:8080" help:"host:port to serve the simulated tenants on"`
	Tenants  string `name:"tenants" placeholder:"n" default:"1" help:"n tenants to serve, each with a fleet of its own, all consenting one application"`
	Agents   string `name:"agents" placeholder:"n" default:"300" help:"number n of agents the fleet ever has (some join late, some leave)"`
	PageSize string `name:"page-size" placeholder:"n" default:"100" help:"n agents per page of the listing"`
	Seed     string `name:"seed" placeholder:"n" default:"1" help:"seed n of the fleet: the same seed gives the same agents"`
	Speed    string `name:"speed" placeholder:"factor" default:"1" help:"simulated seconds per real second, a factor: 1 drifts with the wall clock; 1440 makes a day pass every minute"`
	History  string `name:"history" placeholder:"duration" default:"30d" help:"age of the fleet at start, a duration (36h, 30d, 4w): how much simulated history it already has"`
}

// simulatedApplication is the application the simulator accepts.
type simulatedApplication struct {
	TenantID         string `name:"tenant-id" envvar:"DEFENDER_TENANT_ID" placeholder:"id" help:"tenant id the simulator answers for (default: a fixed test GUID)"`
	ClientID         string `name:"client-id" envvar:"DEFENDER_CLIENT_ID" placeholder:"id" help:"client id it accepts (default: a fixed test GUID)"`
	ClientSecret     string `name:"client-secret" envvar:"DEFENDER_CLIENT_SECRET" placeholder:"secret" help:"client secret it accepts (default: a fixed, public test secret)"`
	ClientSecretFile string `name:"client-secret-file" envvar:"DEFENDER_CLIENT_SECRET_FILE" placeholder:"path" help:"path of a file holding the client secret it accepts"`
}

// simulateCommand is agentsync simulate.
type simulateCommand struct {
	simulateSettings
	simulatedApplication
	logSettings
	noArguments
}

// Help is the command's description, for kong.
func (*simulateCommand) Help() string {
	return "Serves simulated Defender tenants over HTTP (one, or --tenants of them): the token endpoint at\n" +
		"/{tenant}/oauth2/v2.0/token and the API at /api/DeviceAuthenticatedScanAgents. Its agents\n" +
		"drift with time (versions roll out, hosts go stale, agents come and go), deterministically\n" +
		"for a seed. It prints the environment that points agentsync at it. Stop it with Ctrl-C."
}

func (*simulateCommand) exits() exitStatuses {
	return exitStatuses{exitOK: "stopped by SIGINT or SIGTERM", exitFailure: "could not listen or serve", exitUsage: usageExit}
}

// simulation is the settings of a simulated tenant, parsed.
type simulation struct {
	tenants          int
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

func parseSimulation(s simulateSettings, def simulatedApplication) (simulation, error) {
	var sim simulation
	var err error
	if sim.tenants, err = strconv.Atoi(s.Tenants); err != nil || sim.tenants < 1 || sim.tenants > 10000 {
		return sim, fmt.Errorf("--tenants %q: want a number from 1 to 10000", s.Tenants)
	}
	if sim.tenants > 1 && def.TenantID != "" {
		return sim, errors.New("--tenant-id names the one tenant of a simulation; with --tenants, the tenants have ids of their own")
	}
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
	if sim.history, err = parseDuration(s.History); err != nil {
		return sim, fmt.Errorf("--history %q: want %s", s.History, durationForms)
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

// driftingHandler serves the tenants, moving a tenant's fleet to the
// simulated time at the start of each of its listings of agents or
// definitions. Later pages of a
// listing see the fleet as the first page did, as a real API's paging
// snapshot would.
func driftingHandler(tenants *defendertest.Tenants, clock simulatedClock) http.Handler {
	inner := tenants.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == defendertest.ListPath || r.URL.Path == defendertest.DefinitionsPath) && r.URL.Query().Get("$skiptoken") == "" {
			if t := tenants.Lookup(r); t != nil {
				t.SetTime(clock.at())
			}
		}
		inner.ServeHTTP(w, r)
	})
}

func (c *simulateCommand) run(ctx context.Context, a *app) int {
	if err := c.noArguments.check(); err != nil {
		return a.fail(err)
	}
	s := c.simulateSettings
	logger, err := newLogger(a.stderr, c.logSettings)
	if err != nil {
		return a.fail(err)
	}
	sim, err := parseSimulation(s, c.simulatedApplication)
	if err != nil {
		return a.fail(err)
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		logger.Error("listen", "addr", s.Listen, "error", err)
		return exitFailure
	}

	clock := simulatedClock{start: time.Now().UTC(), speed: sim.speed, history: sim.history, now: time.Now}
	var served []*defendertest.Tenant
	for i := range sim.tenants {
		id := sim.tenantID
		if sim.tenants > 1 {
			id = defendertest.TenantIDOf(i)
		}
		served = append(served, defendertest.New(
			defendertest.WithTenantID(id),
			defendertest.WithClientID(sim.clientID),
			defendertest.WithClientSecret(sim.secret),
			defendertest.WithPageSize(sim.pageSize),
			defendertest.WithFleet(defendertest.NewFleet(sim.seed+int64(i), sim.agents, clock.fleetStart()), clock.at()),
		))
	}
	tenants := defendertest.NewTenants(served...)
	printSimulateEnv(a, ln.Addr(), sim, served)
	logger.Info("simulated tenants serving", "addr", ln.Addr().String(), "tenants", sim.tenants,
		"agents_ever", sim.agents, "page_size", sim.pageSize, "seed", sim.seed, "speed", sim.speed)

	ctx, stop := signal.NotifyContext(ctx, stopSignals...)
	defer stop()
	srv := &http.Server{Handler: driftingHandler(tenants, clock), ReadHeaderTimeout: 10 * time.Second}
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
	var tokens, requests int
	for _, t := range served {
		st := t.Stats()
		tokens, requests = tokens+st.TokenRequests, requests+st.APIRequests
	}
	logger.Info("simulated tenants stopped", "token_requests", tokens, "api_requests", requests)
	return exitOK
}

// printSimulateEnv prints, for a shell, the settings that point agentsync
// at the simulator listening on addr. A secret the user gave is never
// printed: the file is named instead, or the user is told to set it.
func printSimulateEnv(a *app, addr net.Addr, sim simulation, served []*defendertest.Tenant) {
	host, port, _ := net.SplitHostPort(addr.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	base := "http://" + net.JoinHostPort(host, port)
	ids := make([]string, len(served))
	for i, t := range served {
		ids[i] = t.TenantID()
	}
	w := a.stdout
	if len(served) == 1 {
		fmt.Fprintln(w, "# Point agentsync at this simulated tenant:")
	} else {
		fmt.Fprintf(w, "# Point agentsync at these %d simulated tenants (one application consented in each):\n", len(served))
	}
	fmt.Fprintf(w, "export DEFENDER_API_URL=%s\n", base)
	tokenPath := defendertest.TokenPath(ids[0])
	if len(ids) > 1 {
		tokenPath = defendertest.TokenPath("{tenant}") // each tenant's own endpoint
	}
	fmt.Fprintf(w, "export DEFENDER_TOKEN_URL='%s%s'\n", base, tokenPath)
	fmt.Fprintf(w, "export DEFENDER_TENANT_ID=%s\n", strings.Join(ids, ","))
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
