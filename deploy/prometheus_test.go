package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start starts a process that runs until the test ends, its output in
// the test's log when the test fails.
func start(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	log := &strings.Builder{}
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s said:\n%.4000s", name, log.String())
		}
	})
}

// promQuery asks the Prometheus at base for expr at now, and returns the
// status of the answer and its series.
func promQuery(ctx context.Context, base, expr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &answer); err != nil {
		return 0, fmt.Errorf("%s: %.200s", err, b)
	}
	if answer.Status != "success" {
		return 0, fmt.Errorf("%s", answer.Error)
	}
	return len(answer.Data.Result), nil
}

// grafanaPromQL expands the variables of Grafana a dashboard's PromQL
// uses: every tenant, and ranges that cover the few seconds a test runs.
func grafanaPromQL(expr string) string {
	return strings.NewReplacer(
		`"$tenant"`, `".*"`, `$__rate_interval`, `20s`, `$__range`, `1m`, `$__interval`, `5s`,
	).Replace(expr)
}

// TestDashboardQueriesAnswerOnARealPrometheus runs agentsync simulate and
// agentsync run (METRICS_ADDR, a sync every few seconds) and Prometheus
// scraping the daemon with the alerting rules loaded; then every PromQL
// expression of the dashboards, and every variable's, must return data
// (not only parse), and the rules must load and evaluate without error.
func TestDashboardQueriesAnswerOnARealPrometheus(t *testing.T) {
	t.Parallel()
	prometheus := tool(t, "prometheus", "prometheus")
	bin, err := buildAgentsync()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()

	// Two simulated tenants, and the environment that points at them.
	sim := exec.Command(bin, "simulate", "--listen", "127.0.0.1:0", "--tenants", "2", "--agents", "30", "--speed", "600")
	out, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	simLog := &strings.Builder{}
	sim.Stderr = simLog
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Process.Kill(); sim.Wait() })
	env := []string{"DATABASE_URL=" + dbtest.URL(t), "SYNC_SCHEDULE=@every 3s", "SYNC_RUN_ON_START=1",
		"LOG_FORMAT=json", "LOG_LEVEL=warn", "HOME=" + work, "PATH=" + os.Getenv("PATH")}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if kv, ok := strings.CutPrefix(lines.Text(), "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, "'"))
			if k == "DEFENDER_CLIENT_SECRET" || k == "DEFENDER_CLIENT_SECRET_FILE" {
				break
			}
		}
	}
	go io.Copy(io.Discard, out)
	if len(env) < 10 {
		t.Fatalf("agentsync simulate printed no environment: %s", simLog.String())
	}

	metricsAddr := freeAddr(t)
	daemon := exec.Command(bin, "run")
	daemon.Env = append(env, "METRICS_ADDR="+metricsAddr)
	start(t, "agentsync run", daemon)

	promAddr := freeAddr(t)
	rules, err := filepath.Abs(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(work, "prometheus.yml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: agentsync
    static_configs:
      - targets: [%q]
`, rules, metricsAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "prometheus", exec.Command(prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(work, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn"))
	base := "http://" + promAddr

	// Wait for a few syncs of each tenant to be scraped, and some seconds
	// of samples for the rates.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	for {
		n, err := promQuery(ctx, base, `count(agentsync_last_success_timestamp_seconds > 0) >= 2 and count(increase(agentsync_sync_runs_total{status="succeeded"}[20s]) > 0) >= 2`)
		if err == nil && n > 0 && time.Since(began) > 25*time.Second {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Prometheus never saw both tenants synced: %v", err)
		}
		time.Sleep(time.Second)
	}

	checked := 0
	for _, d := range grafanaDashboards(t) {
		for _, q := range d.queries(t) {
			if q.source.Type != "prometheus" {
				continue
			}
			expr := grafanaPromQL(q.target.Expr)
			n, err := promQuery(ctx, base, expr)
			switch {
			case err != nil:
				t.Errorf("%s: %v\n%s", q.where, err, expr)
			case n == 0:
				t.Errorf("%s returns no data from a daemon that syncs:\n%s", q.where, expr)
			}
			checked++
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource.Type != "prometheus" {
				continue
			}
			m := labelValues.FindStringSubmatch(strings.TrimSpace(v.Query))
			if m == nil {
				t.Errorf("%s: variable %s: want label_values(metric, label), got %q", d.file, v.Name, v.Query)
				continue
			}
			if n, err := promQuery(ctx, base, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])); err != nil || n < 2 {
				t.Errorf("%s: variable %s lists %d values (%v), want the 2 tenants", d.file, v.Name, n, err)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("only %d PromQL queries in the dashboards", checked)
	}

	// The rules loaded and evaluate without error.
	resp, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var loaded struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&loaded); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range loaded.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q: %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n < 5 {
		t.Errorf("Prometheus loaded %d rules of alerts.yml", n)
	}
}
