package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"gopkg.in/yaml.v3"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/load/loadtest"
	"github.com/agentsync/agentsync/metrics"
)

// These tests read the Grafana and Prometheus set-up under deploy/ and
// check it against the code: every SQL panel's query runs, as a member of
// defender_reader, on a database that syncs filled; every metric a PromQL
// panel names is one agentsync exports; and the provisioning, the compose
// services and the scrape configuration point at each other.

var grafanaDir = filepath.Join(repoRoot, "deploy", "grafana")

// grafanaRef names a data source.
type grafanaRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Datasource *grafanaRef `json:"datasource"`
	RefID      string      `json:"refId"`
	RawSQL     string      `json:"rawSql"`
	Format     string      `json:"format"`
	Expr       string      `json:"expr"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaRef     `json:"datasource"`
	Interval   string          `json:"interval"` // the minimum interval
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"` // of a row
}

type grafanaVariable struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Datasource grafanaRef `json:"datasource"`
	// Query is the query of a query variable, the plugin id of a data
	// source variable.
	Query      string `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// grafanaInput is an input of __inputs, which Grafana asks for on import.
type grafanaInput struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

// grafanaRequire is an entry of __requires.
type grafanaRequire struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version string `json:"version"`
}

type grafanaDashboard struct {
	file       string
	raw        string
	Inputs     []grafanaInput   `json:"__inputs"`
	Requires   []grafanaRequire `json:"__requires"`
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []grafanaPanel   `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

// query is one query of a dashboard, with where it comes from.
type grafanaQuery struct {
	where  string
	panel  grafanaPanel
	source grafanaRef
	target grafanaTarget
}

// grafanaDashboards reads every dashboard of deploy/grafana/dashboards.
func grafanaDashboards(t *testing.T) []grafanaDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(grafanaDir, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", grafanaDir, err)
	}
	var out []grafanaDashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := grafanaDashboard{file: filepath.Base(f), raw: string(b)}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// queries lists the queries of the dashboard's panels, each with the data
// source it runs on (the target's, else the panel's).
func (d grafanaDashboard) queries(t *testing.T) []grafanaQuery {
	t.Helper()
	var out []grafanaQuery
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			for _, tg := range p.Targets {
				q := grafanaQuery{where: fmt.Sprintf("%s: panel %q (%s)", d.file, p.Title, tg.RefID), panel: p, target: tg}
				switch {
				case tg.Datasource != nil:
					q.source = *tg.Datasource
				case p.Datasource != nil:
					q.source = *p.Datasource
				default:
					t.Errorf("%s has no data source", q.where)
					continue
				}
				out = append(out, q)
			}
		}
	}
	walk(d.Panels)
	return out
}

// grafanaProvisioning is the data sources file.
type grafanaProvisioning struct {
	Datasources []struct {
		Name           string            `yaml:"name"`
		UID            string            `yaml:"uid"`
		Type           string            `yaml:"type"`
		URL            string            `yaml:"url"`
		User           string            `yaml:"user"`
		JSONData       map[string]any    `yaml:"jsonData"`
		SecureJSONData map[string]string `yaml:"secureJsonData"`
	} `yaml:"datasources"`
}

const (
	postgresSourceType   = "grafana-postgresql-datasource"
	prometheusSourceType = "prometheus"
)

// grafanaSources returns the provisioned data sources by type, failing the
// test unless there is exactly one of each kind.
func grafanaSources(t *testing.T) map[string]grafanaRef {
	t.Helper()
	var p grafanaProvisioning
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "datasources", "agentsync.yaml"), &p)
	out := map[string]grafanaRef{}
	for _, ds := range p.Datasources {
		if _, dup := out[ds.Type]; dup {
			t.Errorf("two data sources of type %s", ds.Type)
		}
		out[ds.Type] = grafanaRef{Type: ds.Type, UID: ds.UID}
	}
	for _, want := range []string{postgresSourceType, prometheusSourceType} {
		if out[want].UID == "" {
			t.Fatalf("no %s data source with a uid is provisioned", want)
		}
	}
	return out
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestGrafanaDashboardsUseTheProvisionedSources(t *testing.T) {
	t.Parallel()
	sources := grafanaSources(t)
	titles := map[string]bool{}
	uids := map[string]bool{}
	for _, d := range grafanaDashboards(t) {
		if d.UID == "" || uids[d.UID] {
			t.Errorf("%s: uid %q missing or taken", d.file, d.UID)
		}
		uids[d.UID], titles[d.Title] = true, true
		for _, q := range d.queries(t) {
			// The uid is a data source variable (deploy/dashboards_test.go
			// checks that): its type must be one provisioned.
			if _, ok := sources[q.source.Type]; !ok {
				t.Errorf("%s uses data source %+v, of a type not provisioned", q.where, q.source)
			}
			switch {
			case q.source.Type == postgresSourceType && strings.TrimSpace(q.target.RawSQL) == "":
				t.Errorf("%s: a PostgreSQL query without rawSql", q.where)
			case q.source.Type == prometheusSourceType && strings.TrimSpace(q.target.Expr) == "":
				t.Errorf("%s: a Prometheus query without expr", q.where)
			}
		}
		for _, v := range d.Templating.List {
			if _, ok := sources[v.Datasource.Type]; v.Type == "query" && !ok {
				t.Errorf("%s: variable %s uses data source %+v, of a type not provisioned", d.file, v.Name, v.Datasource)
			}
		}
	}
	for _, want := range []string{"Scan agents", "agentsync operations"} {
		if !titles[want] {
			t.Errorf("no dashboard %q", want)
		}
	}
}

// grafanaMacro matches the start of a macro of Grafana's PostgreSQL data
// source.
var grafanaMacro = regexp.MustCompile(`\$__([A-Za-z]+)\(`)

// expandGrafanaSQL expands the macros and variables of a panel's SQL as
// Grafana does for the time range from..to: multi-value variables become
// a list of quoted values.
func expandGrafanaSQL(sql string, from, to time.Time, vars map[string][]string) (string, error) {
	quote := func(t time.Time) string { return "'" + t.UTC().Format(time.RFC3339) + "'" }
	var b strings.Builder
	for {
		loc := grafanaMacro.FindStringSubmatchIndex(sql)
		if loc == nil {
			b.WriteString(sql)
			break
		}
		name := sql[loc[2]:loc[3]]
		depth, end := 1, loc[1]
		for ; end < len(sql) && depth > 0; end++ {
			switch sql[end] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth != 0 {
			return "", fmt.Errorf("$__%s( is not closed", name)
		}
		args := splitArgs(sql[loc[1] : end-1])
		var out string
		switch {
		case name == "timeFilter" && len(args) == 1:
			out = fmt.Sprintf("%s BETWEEN %s AND %s", args[0], quote(from), quote(to))
		case name == "timeFrom" && len(args) == 0:
			out = quote(from)
		case name == "timeTo" && len(args) == 0:
			out = quote(to)
		case (name == "timeGroup" || name == "timeGroupAlias") && (len(args) == 2 || len(args) == 3):
			d, err := grafanaInterval(strings.Trim(args[1], `'"`))
			if err != nil {
				return "", err
			}
			secs := strconv.Itoa(int(d.Seconds()))
			out = fmt.Sprintf("floor(extract(epoch from %s)/%s)*%s", args[0], secs, secs)
			if name == "timeGroupAlias" {
				out += ` AS "time"`
			}
		default:
			return "", fmt.Errorf("macro $__%s with %d arguments: not one the test knows", name, len(args))
		}
		b.WriteString(sql[:loc[0]])
		b.WriteString(out)
		sql = sql[end:]
	}
	sql = b.String()
	for name, values := range vars {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		list := strings.Join(quoted, ",")
		for _, form := range []string{"${" + name + "}", "[[" + name + "]]"} {
			sql = strings.ReplaceAll(sql, form, list)
		}
		sql = regexp.MustCompile(`\$`+regexp.QuoteMeta(name)+`\b`).ReplaceAllLiteralString(sql, list)
	}
	if left := regexp.MustCompile(`\$\{?[A-Za-z_]+|\[\[`).FindString(sql); left != "" {
		return "", fmt.Errorf("%s is left unexpanded", left)
	}
	return sql, nil
}

// splitArgs splits a macro's arguments at the commas outside parentheses.
func splitArgs(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var args []string
	depth, start := 0, 0
	for i, c := range s {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(args, strings.TrimSpace(s[start:]))
}

// grafanaInterval reads an interval of a $__timeGroup macro: 1d, 5m, 30s.
func grafanaInterval(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		return time.Duration(days) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

func TestExpandGrafanaSQL(t *testing.T) {
	t.Parallel()
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got, err := expandGrafanaSQL(`SELECT $__timeGroupAlias(c.at, 1d), x FROM t WHERE $__timeFilter(f(c.at, 2)) AND a IN ($tenant) AND b = ${tenant} AND c > $__timeFrom()`,
		from, to, map[string][]string{"tenant": {"a", "o'b"}})
	want := `SELECT floor(extract(epoch from c.at)/86400)*86400 AS "time", x FROM t WHERE f(c.at, 2) BETWEEN '2026-01-01T00:00:00Z' AND '2026-02-01T00:00:00Z' AND a IN ('a','o''b') AND b = 'a','o''b' AND c > '2026-01-01T00:00:00Z'`
	if err != nil || got != want {
		t.Errorf("expandGrafanaSQL:\n got %s, %v\nwant %s", got, err, want)
	}
	for _, bad := range []string{`SELECT $__unixEpochFilter(x)`, `SELECT $other`, `SELECT $__timeFilter(x`} {
		if _, err := expandGrafanaSQL(bad, from, to, nil); err == nil {
			t.Errorf("expandGrafanaSQL(%q) passed", bad)
		}
	}
}

// TestGrafanaSQLPanelsRunAsTheReader runs every SQL panel query and SQL
// variable, macros expanded for the time range of two synced tenants, as a
// member of defender_reader: each must answer rows, and a time series a
// time column.
func TestGrafanaSQLPanelsRunAsTheReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := dbtest.URL(t)
	pool, err := pgxpool.New(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	end := time.Now().UTC().Truncate(time.Hour)
	first := loadtest.Sync(t, pool, loadtest.Story{Agents: 80, Days: 20, FailDay: 6, VanishDay: 12, End: end})
	second := loadtest.Sync(t, pool, loadtest.Story{TenantID: "contoso.example", Name: "Contoso", Agents: 30, Days: 20, Seed: 7, End: end})
	reader := dbtest.ReaderPool(t, owner)
	from, to := first.Start, end.Add(time.Hour)
	vars := map[string][]string{"tenant": {first.TenantID, second.TenantID}}

	ran := 0
	for _, d := range grafanaDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource.Type != postgresSourceType {
				continue
			}
			rows := runGrafanaSQL(t, reader, fmt.Sprintf("%s: variable %s", d.file, v.Name), v.Query, from, to, vars)
			if len(rows.values) != 2 || !slices.Contains(rows.columns, "__value") || !slices.Contains(rows.columns, "__text") {
				t.Errorf("%s: variable %s answers %v %v; want __value and __text of the two tenants", d.file, v.Name, rows.columns, rows.values)
			} else if text := fmt.Sprint(rows.values); !strings.Contains(text, "Contoso") || !strings.Contains(text, first.TenantID) {
				t.Errorf("%s: variable %s answers %v; want the tenants named, by id when they have no name", d.file, v.Name, rows.values)
			}
			ran++
		}
		for _, q := range d.queries(t) {
			if q.source.Type != postgresSourceType {
				continue
			}
			rows := runGrafanaSQL(t, reader, q.where, q.target.RawSQL, from, to, vars)
			ran++
			if len(rows.values) == 0 {
				t.Errorf("%s answers no row on a month of syncs", q.where)
			}
			if q.target.Format == "time_series" && !slices.Contains(rows.columns, "time") {
				t.Errorf("%s is a time series without a time column: %v", q.where, rows.columns)
			}
		}
	}
	if ran < 10 {
		t.Errorf("only %d SQL queries in the dashboards", ran)
	}
}

type grafanaRows struct {
	columns []string
	values  [][]any
}

func runGrafanaSQL(t *testing.T, pool *pgxpool.Pool, where, sql string, from, to time.Time, vars map[string][]string) grafanaRows {
	t.Helper()
	expanded, err := expandGrafanaSQL(sql, from, to, vars)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return grafanaRows{}
	}
	rows, err := pool.Query(context.Background(), expanded)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expanded)
		return grafanaRows{}
	}
	defer rows.Close()
	var out grafanaRows
	for _, f := range rows.FieldDescriptions() {
		out.columns = append(out.columns, f.Name)
	}
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Errorf("%s: %v", where, err)
		}
		out.values = append(out.values, v)
	}
	if err := rows.Err(); err != nil {
		t.Errorf("%s: %v\n%s", where, err, expanded)
	}
	return out
}

var (
	agentsyncMetric = regexp.MustCompile(`\bagentsync_[a-z0-9_]+`)
	byClause        = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelMatcher    = regexp.MustCompile(`\{([^}]*)\}`)
	matcherName     = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// exportedSeries returns the names of the series agentsync serves on
// /metrics (histograms as their _bucket, _sum and _count), each with its
// label names, after every kind of event happened once.
func exportedSeries(t *testing.T) map[string]map[string]bool {
	t.Helper()
	m := metrics.New()
	tn := m.Tenant("contoso.example")
	tn.APIRequest(200, time.Millisecond)
	tn.APIRequest(429, time.Millisecond)
	tn.Retry("throttled")
	tn.TokenFetch(nil)
	tn.Page(1, 1)
	tn.SyncFinished(metrics.Outcome{Status: metrics.StatusSucceeded, Duration: time.Second, FinishedAt: time.Now(), Seen: 1})
	tn.SyncFinished(metrics.Outcome{Status: metrics.StatusFailed, Duration: time.Second})
	tn.SyncSkipped()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, f := range families {
		labels := map[string]bool{}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		names := []string{f.GetName()}
		switch f.GetType().String() {
		case "HISTOGRAM":
			names = []string{f.GetName() + "_bucket", f.GetName() + "_sum", f.GetName() + "_count"}
			bucket := map[string]bool{"le": true}
			for l := range labels {
				bucket[l] = true
			}
			out[names[0]] = bucket
			names = names[1:]
		case "SUMMARY":
			names = append(names, f.GetName()+"_sum", f.GetName()+"_count")
		}
		for _, n := range names {
			out[n] = labels
		}
	}
	return out
}

// labelValues matches a Prometheus variable's query: label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

func TestGrafanaPromQLNamesExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := exportedSeries(t)
	checked := 0
	for _, d := range grafanaDashboards(t) {
		for _, q := range d.queries(t) {
			if q.source.Type != prometheusSourceType {
				continue
			}
			expr := q.target.Expr
			names := agentsyncMetric.FindAllString(expr, -1)
			if len(names) == 0 {
				t.Errorf("%s names no agentsync metric: %s", q.where, expr)
			}
			labels := map[string]bool{}
			for _, n := range names {
				l, ok := exported[n]
				if !ok {
					t.Errorf("%s: agentsync exports no %s", q.where, n)
				}
				for k := range l {
					labels[k] = true
				}
				checked++
			}
			var used []string
			for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
				for _, l := range strings.Split(m[1], ",") {
					used = append(used, strings.TrimSpace(l))
				}
			}
			for _, m := range labelMatcher.FindAllStringSubmatch(expr, -1) {
				for _, mm := range matcherName.FindAllStringSubmatch(m[1], -1) {
					used = append(used, mm[1])
				}
			}
			for _, l := range used {
				if l != "" && !labels[l] {
					t.Errorf("%s uses label %q, which %v do not have", q.where, l, names)
				}
			}
			if strings.Count(expr, "(") != strings.Count(expr, ")") {
				t.Errorf("%s: unbalanced parentheses: %s", q.where, expr)
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d metric names in the PromQL panels", checked)
	}
	for _, d := range grafanaDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type != "query" || v.Datasource.Type != prometheusSourceType {
				continue
			}
			m := labelValues.FindStringSubmatch(strings.TrimSpace(v.Query))
			if m == nil {
				t.Errorf("%s: variable %s: want label_values(metric, label), got %q", d.file, v.Name, v.Query)
				continue
			}
			if !exported[m[1]][m[2]] {
				t.Errorf("%s: variable %s lists label %s of %s, which agentsync does not export", d.file, v.Name, m[2], m[1])
			}
		}
	}
}

// grafanaCompose is the part of docker-compose.yml these tests read.
type grafanaCompose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Secrets     []string          `yaml:"secrets"`
		Volumes     []string          `yaml:"volumes"`
		NetworkMode string            `yaml:"network_mode"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// mount returns the container path where the service mounts the repository
// path src.
func (c grafanaCompose) mount(t *testing.T, service, src string) string {
	t.Helper()
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[0]) == path.Clean(src) {
			return parts[1]
		}
	}
	t.Errorf("service %s does not mount %s", service, src)
	return ""
}

// TestGrafanaAndPrometheusAgreeWithCompose: the compose services mount the
// provisioning where Grafana and Prometheus read it, the data sources reach
// the services by name with the secrets those services have, and
// Prometheus scrapes the port the daemon serves its metrics on.
func TestGrafanaAndPrometheusAgreeWithCompose(t *testing.T) {
	t.Parallel()
	var compose grafanaCompose
	readYAML(t, filepath.Join(repoRoot, "docker-compose.yml"), &compose)
	for _, s := range []string{"grafana", "prometheus", "postgres"} {
		if _, ok := compose.Services[s]; !ok {
			t.Fatalf("docker-compose.yml has no %s service", s)
		}
	}
	if got := compose.mount(t, "grafana", "./deploy/grafana/provisioning"); got != "/etc/grafana/provisioning" {
		t.Errorf("grafana mounts the provisioning at %q, not where Grafana reads it", got)
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "dashboards", "agentsync.yaml"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Options.Path != compose.mount(t, "grafana", "./deploy/grafana/dashboards") {
		t.Errorf("the dashboard provider reads %+v, not where compose mounts deploy/grafana/dashboards", providers.Providers)
	}

	var ds grafanaProvisioning
	readYAML(t, filepath.Join(grafanaDir, "provisioning", "datasources", "agentsync.yaml"), &ds)
	postgres := compose.Services["postgres"]
	for _, d := range ds.Datasources {
		host, port, err := net.SplitHostPort(strings.TrimPrefix(d.URL, "http://"))
		if err != nil {
			t.Errorf("data source %s: url %q: %v", d.Name, d.URL, err)
			continue
		}
		if _, ok := compose.Services[host]; !ok {
			t.Errorf("data source %s reaches %s, which is no compose service", d.Name, host)
		}
		switch d.Type {
		case postgresSourceType:
			if port != "5432" || d.JSONData["database"] != postgres.Environment["POSTGRES_DB"] {
				t.Errorf("data source %s: %s, database %v; want postgres:5432 and %s", d.Name, d.URL, d.JSONData["database"], postgres.Environment["POSTGRES_DB"])
			}
			secret, ok := strings.CutPrefix(d.SecureJSONData["password"], "$__file{/run/secrets/")
			secret, ok2 := strings.CutSuffix(secret, "}")
			if !ok || !ok2 || !slices.Contains(compose.Services["grafana"].Secrets, secret) || !slices.Contains(postgres.Secrets, secret) {
				t.Errorf("data source %s: password %q is not a secret both grafana and postgres have", d.Name, d.SecureJSONData["password"])
			}
			checkGrafanaReaderScript(t, compose.mount(t, "postgres", "./deploy/compose/postgres-init"), d.User, "/run/secrets/"+secret)
		case prometheusSourceType:
			if port != "9090" {
				t.Errorf("data source %s: %s; Prometheus listens on 9090", d.Name, d.URL)
			}
		}
	}

	// Prometheus scrapes the daemon where it serves /metrics: in the
	// network namespace it shares, on the port of METRICS_ADDR.
	if got := compose.mount(t, "prometheus", "./deploy/prometheus/prometheus.yml"); !slices.Contains(compose.Services["prometheus"].Command, "--config.file="+got) {
		t.Errorf("prometheus reads %q, not the configuration it mounts at %s", compose.Services["prometheus"].Command, got)
	}
	var prom struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "prometheus", "prometheus.yml"), &prom)
	daemon := compose.Services["agentsync"]
	host := "agentsync"
	if shared, ok := strings.CutPrefix(daemon.NetworkMode, "service:"); ok {
		host = shared
	}
	want := net.JoinHostPort(host, addrPort(t, daemon.Environment["METRICS_ADDR"]))
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if !slices.Equal(targets, []string{want}) {
		t.Errorf("prometheus scrapes %q; the daemon serves its metrics on %s", targets, want)
	}
}

// checkGrafanaReaderScript: compose's init script has setup.psql make
// Grafana's login (user), a member of defender_reader, with the password of
// secretFile. TestSetupScriptMakesAnOwnerWithoutPrivilegesThatMigrates runs
// setup.psql itself.
func checkGrafanaReaderScript(t *testing.T, initDir, user, secretFile string) {
	t.Helper()
	if initDir != "/docker-entrypoint-initdb.d" {
		t.Errorf("postgres mounts deploy/compose/postgres-init at %q, where its image runs nothing", initDir)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "compose", "postgres-init", "agentsync-roles.sh"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, want := range []string{"-v reader_login=" + user + " ", `-v reader_password="$(cat ` + secretFile + `)"`, "-f /etc/agentsync/setup.psql"} {
		if !strings.Contains(script, want) {
			t.Errorf("agentsync-roles.sh lacks %s:\n%s", want, script)
		}
	}
}
