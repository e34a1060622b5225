package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var alertsFile = filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml")

// tool returns the path of a program the test needs. Without it the test
// skips, and says how to get it, except in CI (CI set), where it fails:
// .ci/run installs it.
func tool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; CI must run this test (.ci/run installs Debian's %s)", name, debianPackage)
	}
	t.Skipf("%s is not installed (apt-get install %s)", name, debianPackage)
	return ""
}

// TestAlertRulesPassPromtool: promtool accepts the rules, and they pass
// their unit tests on recorded series (deploy/prometheus/alerts_test.yml).
func TestAlertRulesPassPromtool(t *testing.T) {
	t.Parallel()
	promtool := tool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertsFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// ruleGroups is a rules file: groups of rules.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertsSayWhatToDo: every alert has a severity, a summary, a
// description and a runbook that is a section of docs/alerts.md; the
// PrometheusRule of the Kubernetes overlay holds the same rules; and the
// Prometheus of docker compose loads the file.
func TestAlertsSayWhatToDo(t *testing.T) {
	t.Parallel()
	var rules ruleGroups
	readYAML(t, alertsFile, &rules)
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, h := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(doc), -1) {
		anchors["docs/alerts.md#"+strings.ToLower(h[1])] = true
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a severity, a summary or a description", r.Alert)
			}
			if !anchors[r.Annotations["runbook"]] {
				t.Errorf("alert %s: runbook %q is no section of docs/alerts.md", r.Alert, r.Annotations["runbook"])
			}
			if !strings.Contains(string(doc), r.Alert) {
				t.Errorf("docs/alerts.md does not name alert %s", r.Alert)
			}
		}
	}
	for _, want := range []string{"AgentsyncTenantSyncFailing", "AgentsyncTenantSyncOverdue", "AgentsyncTokenRequestsFailing",
		"AgentsyncAPIThrottled", "AgentsyncDown"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	var operator struct {
		Kind string     `yaml:"kind"`
		Spec ruleGroups `yaml:"spec"`
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "kubernetes", "prometheus-operator", "prometheusrule.yaml"), &operator)
	if operator.Kind != "PrometheusRule" || !reflect.DeepEqual(operator.Spec, rules) {
		t.Error("the PrometheusRule of deploy/kubernetes/prometheus-operator does not hold the rules of deploy/prometheus/alerts.yml")
	}

	var compose struct {
		Services map[string]struct {
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(repoRoot, "docker-compose.yml"), &compose)
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, filepath.Join(repoRoot, "deploy", "prometheus", "prometheus.yml"), &prom)
	mounted := ""
	for _, v := range compose.Services["prometheus"].Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && filepath.Clean(src) == "deploy/prometheus/alerts.yml" {
			mounted, _, _ = strings.Cut(dst, ":")
		}
	}
	if mounted == "" || len(prom.RuleFiles) != 1 || prom.RuleFiles[0] != mounted {
		t.Errorf("Prometheus of docker compose loads %q; compose mounts deploy/prometheus/alerts.yml at %q", prom.RuleFiles, mounted)
	}
}
