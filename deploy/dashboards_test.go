package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	for _, d := range grafanaDashboards(t) {
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
		uses := func(where string, ref grafanaRef) {
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
