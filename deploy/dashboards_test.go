package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The dashboards of deploy/grafana/dashboards as these tests read them.

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashTarget struct {
	Datasource *dsRef `json:"datasource"`
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	RawSQL     string `json:"rawSql"`
}

type dashPanel struct {
	Title      string       `json:"title"`
	Type       string       `json:"type"`
	Datasource *dsRef       `json:"datasource"`
	Interval   string       `json:"interval"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"`
}

type dashVariable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Datasource dsRef  `json:"datasource"`
	// Query is a string for query variables, the plugin id for data
	// source variables.
	Query   string `json:"query"`
	Current struct {
		Value any `json:"value"`
	} `json:"current"`
}

type dashInput struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type dashRequire struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version string `json:"version"`
}

type dashboard struct {
	file       string
	raw        string
	Inputs     []dashInput   `json:"__inputs"`
	Requires   []dashRequire `json:"__requires"`
	UID        string        `json:"uid"`
	Title      string        `json:"title"`
	Panels     []dashPanel   `json:"panels"`
	Templating struct {
		List []dashVariable `json:"list"`
	} `json:"templating"`
}

// dashQuery is one query of a dashboard, with where it comes from and the
// data source it runs on (the target's, else its panel's).
type dashQuery struct {
	where  string
	panel  dashPanel
	source dsRef
	target dashTarget
}

func dashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{file: filepath.Base(f), raw: string(b)}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

func (d dashboard) queries(t *testing.T) []dashQuery {
	t.Helper()
	var out []dashQuery
	var walk func([]dashPanel)
	walk = func(panels []dashPanel) {
		for _, p := range panels {
			walk(p.Panels)
			for _, tg := range p.Targets {
				q := dashQuery{where: fmt.Sprintf("%s: panel %q (%s)", d.file, p.Title, tg.RefID), panel: p, target: tg}
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

// labelValues matches a Prometheus variable's query: label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// minimumGrafana is the oldest Grafana the dashboards work in: the SQL data
// source type grafana-postgresql-datasource came with 10.2.3.
const minimumGrafana = "10.2.3"

// TestDashboardsImportAnywhere: no panel, query or variable names a fixed
// data source; each uses a data source variable of its type, which an
// import fills from __inputs; __requires states the Grafana they need, as
// docs/dashboards.md does; and no panel keeps a minimum interval that
// leaves a range of a few hours without data.
func TestDashboardsImportAnywhere(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "dashboards.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "Grafana "+minimumGrafana) {
		t.Errorf("docs/dashboards.md does not state the minimum version, Grafana %s", minimumGrafana)
	}
	for _, d := range dashboards(t) {
		sources := map[string]string{} // variable name: plugin id
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				sources[v.Name] = v.Query
			}
		}
		inputs := map[string]string{} // ${DS_...}: plugin id
		for _, in := range d.Inputs {
			if in.Type == "datasource" {
				inputs["${"+in.Name+"}"] = in.PluginID
			}
		}
		uses := func(where string, ref dsRef) {
			name, ok := strings.CutPrefix(ref.UID, "${")
			name, ok2 := strings.CutSuffix(name, "}")
			if !ok || !ok2 || sources[name] != ref.Type {
				t.Errorf("%s uses data source %+v, not a data source variable of its type (%v)", where, ref, sources)
			}
		}
		for _, q := range d.queries(t) {
			uses(q.where, q.source)
			if q.panel.Datasource != nil {
				uses(q.where+" (panel)", *q.panel.Datasource)
			}
			if strings.HasSuffix(q.panel.Interval, "h") || strings.HasSuffix(q.panel.Interval, "d") {
				t.Errorf("%s: minimum interval %s: a range of a few hours shows no data", q.where, q.panel.Interval)
			}
		}
		for _, v := range d.Templating.List {
			switch v.Type {
			case "query":
				uses(d.file+": variable "+v.Name, v.Datasource)
			case "datasource":
				if cur, _ := v.Current.Value.(string); inputs[cur] != v.Query {
					t.Errorf("%s: data source variable %s starts at %q, not an input of __inputs for %s", d.file, v.Name, cur, v.Query)
				}
			}
		}
		for _, uid := range []string{"agentsync-postgres", "agentsync-prometheus"} {
			if strings.Contains(d.raw, `"`+uid+`"`) {
				t.Errorf("%s names the data source uid %s", d.file, uid)
			}
		}
		grafana := ""
		for _, r := range d.Requires {
			if r.Type == "grafana" {
				grafana = r.Version
			}
		}
		if grafana != minimumGrafana {
			t.Errorf("%s requires Grafana %q, want %s", d.file, grafana, minimumGrafana)
		}
	}
}
