package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
)

// fetchEnv is the environment of agentsync fetch against tenant.
func fetchEnv(tenant *defendertest.Server) map[string]string {
	return map[string]string{
		"DEFENDER_TENANT_ID":     defendertest.DefaultTenantID,
		"DEFENDER_CLIENT_ID":     defendertest.DefaultClientID,
		"DEFENDER_CLIENT_SECRET": defendertest.DefaultClientSecret,
		"DEFENDER_API_URL":       tenant.URL,
		"DEFENDER_TOKEN_URL":     tenant.TokenURL(),
		"LOG_FORMAT":             "json",
	}
}

func fetchTenant(t *testing.T, opts ...defendertest.Option) *defendertest.Server {
	t.Helper()
	start := time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)
	fleet := defendertest.NewFleet(11, 60, start)
	tenant := defendertest.NewServer(append([]defendertest.Option{defendertest.WithFleet(fleet, start.Add(15*24*time.Hour))}, opts...)...)
	t.Cleanup(tenant.Close)
	return tenant
}

func TestFetchPrintsEveryAgent(t *testing.T) {
	t.Parallel()
	tenant := fetchTenant(t, defendertest.WithPageSize(7), defendertest.WithCasing(defendertest.CasingMixed))
	tenant.Inject(defendertest.TooManyRequests("1").OnPage(2))
	agents := tenant.Agents()
	pages := (len(agents) + 6) / 7

	code, stdout, stderr := runCLI(t, fetchEnv(tenant), "fetch")
	if code != exitOK {
		t.Fatalf("fetch: exit %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(agents) {
		t.Fatalf("%d lines on stdout, want one per agent (%d)", len(lines), len(agents))
	}
	for i, a := range agents {
		want, _ := json.Marshal(a.Record())
		if lines[i] != string(want) {
			t.Fatalf("line %d:\n got %s\nwant %s", i+1, lines[i], want)
		}
	}
	// Canonical names whatever the casing the API used.
	if !strings.Contains(lines[0], `"mde_client_version":`) || !strings.Contains(lines[0], `"last_seen":`) {
		t.Errorf("line 1 lacks canonical fields: %s", lines[0])
	}
	if s := tenant.Stats(); s.APIRequests != pages+1 {
		t.Errorf("the tenant saw %d API requests, want %d pages and one retry after the 429", s.APIRequests, pages)
	}
	summary := "agentsync fetch: " + strconv.Itoa(len(agents)) + " agents in " + strconv.Itoa(pages) + " pages, " + strconv.Itoa(pages+1) + " API requests, 0 rejected, 0 duplicate ids"
	if !strings.Contains(stderr, summary) || !strings.Contains(stderr, `"reason":"429"`) {
		t.Errorf("stderr lacks the summary %q or the logged 429:\n%s", summary, stderr)
	}
	if strings.Contains(stdout+stderr, defendertest.DefaultClientSecret) {
		t.Error("the output shows the client secret")
	}
}

func TestFetchWrongSecretNamesTheEntraError(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-secret~9f8e7d6c5b4a"
	tenant := fetchTenant(t)
	env := fetchEnv(tenant)
	env["DEFENDER_CLIENT_SECRET"] = wrong
	code, stdout, stderr := runCLI(t, env, "fetch", "--log-level", "debug")
	if code != exitFailure {
		t.Fatalf("fetch with a wrong secret: exit %d, want %d; stderr:\n%s", code, exitFailure, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	var failure string
	for line := range strings.Lines(stderr) {
		if strings.HasPrefix(line, "agentsync fetch: fetch page") {
			failure = line
		}
	}
	if !strings.Contains(failure, "AADSTS7000215") || !strings.Contains(failure, "Invalid client secret provided") {
		t.Errorf("no one-line message naming AADSTS7000215 in:\n%s", stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "agentsync fetch: 0 agents in 0 pages") {
		t.Errorf("stderr does not end with the summary:\n%s", stderr)
	}
	for _, secret := range append(tenant.IssuedTokens(), wrong, defendertest.DefaultClientSecret) {
		if strings.Contains(stderr, secret) {
			t.Errorf("stderr shows a secret:\n%s", stderr)
		}
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	tenant := fetchTenant(t)
	tenant.Inject(defendertest.NotFound())
	code, stdout, stderr := runCLI(t, fetchEnv(tenant), "fetch")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "not taken as an empty tenant") {
		t.Errorf("fetch against a 404: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

func TestFetchReadsSecretAndCertificateFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(defendertest.DefaultClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tenant := fetchTenant(t)
	env := fetchEnv(tenant)
	delete(env, "DEFENDER_CLIENT_SECRET")
	env["DEFENDER_CLIENT_SECRET_FILE"] = secretFile
	if code, _, stderr := runCLI(t, env, "fetch"); code != exitOK {
		t.Errorf("fetch with DEFENDER_CLIENT_SECRET_FILE: exit %d, stderr:\n%s", code, stderr)
	}

	cert, pemFile, err := defendertest.NewCertificate("agentsync fetch test")
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(certFile, pemFile, 0o600); err != nil {
		t.Fatal(err)
	}
	certTenant := fetchTenant(t, defendertest.WithCertificate(cert), defendertest.WithClientSecret(""))
	env = fetchEnv(certTenant)
	delete(env, "DEFENDER_CLIENT_SECRET")
	env["DEFENDER_CLIENT_CERTIFICATE_FILE"] = certFile
	code, stdout, stderr := runCLI(t, env, "fetch")
	if code != exitOK || strings.Count(stdout, "\n") != len(certTenant.Agents()) {
		t.Errorf("fetch with a certificate: exit %d, %d lines, stderr:\n%s", code, strings.Count(stdout, "\n"), stderr)
	}
}

func TestFetchBadConfigurationExits2(t *testing.T) {
	t.Parallel()
	tenant := fetchTenant(t)
	// Checked once every subtest has run.
	t.Cleanup(func() {
		if s := tenant.Stats(); s.TokenRequests != 0 || s.APIRequests != 0 {
			t.Errorf("bad configurations reached the tenant: %+v", s)
		}
	})
	tests := []struct {
		name    string
		edit    func(env map[string]string)
		args    []string
		mention string
	}{
		{"no tenant", func(env map[string]string) { delete(env, "DEFENDER_TENANT_ID") }, nil, "no tenant: set DEFENDER_TENANT_ID"},
		{"no credential", func(env map[string]string) { delete(env, "DEFENDER_CLIENT_SECRET") }, nil, "no credentials"},
		{"secret and secret file", func(env map[string]string) { env["DEFENDER_CLIENT_SECRET_FILE"] = "/dev/null" }, nil, "not both"},
		{"missing secret file", func(env map[string]string) {
			delete(env, "DEFENDER_CLIENT_SECRET")
			env["DEFENDER_CLIENT_SECRET_FILE"] = "/nonexistent/secret"
		}, nil, "DEFENDER_CLIENT_SECRET_FILE"},
		{"region outside commercial", func(env map[string]string) {
			env["DEFENDER_CLOUD"] = "gcc"
			env["DEFENDER_REGION"] = "eu"
		}, nil, "only in the commercial cloud"},
		{"plain http to a remote host", nil, []string{"--api-url", "http://api.security.microsoft.com"}, "loopback"},
		{"bad log level", func(env map[string]string) { env["LOG_LEVEL"] = "loud" }, nil, "LOG_LEVEL"},
		{"stray argument", nil, []string{"now"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := fetchEnv(tenant)
			if tt.edit != nil {
				tt.edit(env)
			}
			code, stdout, stderr := runCLI(t, env, append([]string{"fetch"}, tt.args...)...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d mentioning %q", code, stdout, stderr, exitUsage, tt.mention)
			}
			if strings.Contains(stderr, defendertest.DefaultClientSecret) {
				t.Errorf("stderr shows the secret: %s", stderr)
			}
		})
	}
}

// TestFetchEscapesWhatATerminalWouldActOn: C1 controls and bidirectional
// overrides the API sends reach fetch's output as JSON escapes (the same
// value), never raw.
func TestFetchEscapesWhatATerminalWouldActOn(t *testing.T) {
	t.Parallel()
	host := "scan\u009b2J\u202eevil\x7f\u0085"
	tenant := defendertest.NewServer(defendertest.WithAgents([]defendertest.Agent{{ID: "a_1", MachineID: "m1", ComputerDNSName: host,
		Extra: map[string]any{"note": "x\u009d0;title\u009c"}}}))
	t.Cleanup(tenant.Close)
	code, stdout, stderr := runCLI(t, fetchEnv(tenant), "fetch")
	if code != exitOK {
		t.Fatalf("fetch: exit %d\n%s", code, stderr)
	}
	for _, r := range stdout {
		if r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) {
			t.Fatalf("fetch printed %U raw: %q", r, stdout)
		}
	}
	var rec struct {
		Host  string            `json:"computer_dns_name"`
		Extra map[string]string `json:"extra"`
	}
	if err := json.Unmarshal([]byte(stdout), &rec); err != nil || rec.Host != host || rec.Extra["note"] != "x\u009d0;title\u009c" {
		t.Errorf("fetch printed %q, which reads %+v, %v; want the values sent", stdout, rec, err)
	}
}
