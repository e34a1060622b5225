package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The security of the deployment examples: what an operator copies must
// not expose the metrics, hand the pod a Kubernetes token, run whatever
// image "latest" is today, trust any database server, or give the
// containers privileges they do not use.

// kubeDocs reads every YAML document under deploy/kubernetes, by file.
func kubeDocs(t *testing.T) map[string][]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under deploy/kubernetes: %v", err)
	}
	out := map[string][]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				out[f] = append(out[f], doc)
			}
		}
	}
	return out
}

// dig follows keys through nested maps.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any) []any { l, _ := v.([]any); return l }

// podSpecs returns the pod spec of every workload, by where it is.
func podSpecs(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for file, docs := range kubeDocs(t) {
		for _, doc := range docs {
			var spec any
			switch doc["kind"] {
			case "Deployment", "StatefulSet", "DaemonSet", "Job":
				spec = dig(doc, "spec", "template", "spec")
			case "CronJob":
				spec = dig(doc, "spec", "jobTemplate", "spec", "template", "spec")
			default:
				continue
			}
			m, ok := spec.(map[string]any)
			if !ok {
				t.Fatalf("%s: %s without a pod spec", file, doc["kind"])
			}
			out[file+" "+doc["kind"].(string)] = m
		}
	}
	if len(out) < 2 {
		t.Fatalf("found %d workloads, want the Deployment and the CronJob", len(out))
	}
	return out
}

// releaseImage is an image by a version tag, its digest optional.
var releaseImage = regexp.MustCompile(`^ghcr\.io/agentsync/agentsync:v[0-9]+\.[0-9]+\.[0-9]+(@sha256:[0-9a-f]{64})?$`)

func TestKubernetesPodsHoldNoTokenAndRunARelease(t *testing.T) {
	t.Parallel()
	for where, spec := range podSpecs(t) {
		if spec["automountServiceAccountToken"] != false {
			t.Errorf("%s: automountServiceAccountToken is %v; agentsync never calls the Kubernetes API, so false", where, spec["automountServiceAccountToken"])
		}
		for _, c := range list(spec["containers"]) {
			image, _ := dig(c, "image").(string)
			if !releaseImage.MatchString(image) {
				t.Errorf("%s: image %q; want a release by its version tag (vX.Y.Z), never latest", where, image)
			}
		}
	}
	for _, f := range []string{"kubernetes/daemon/deployment.yaml", "kubernetes/cronjob/cronjob.yaml"} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "@sha256:") {
			t.Errorf("%s says nothing of pinning the image's digest", f)
		}
	}
}

// policy is a NetworkPolicy of the manifests.
type policy struct {
	file string
	doc  map[string]any
}

func networkPolicies(t *testing.T) []policy {
	t.Helper()
	var out []policy
	for file, docs := range kubeDocs(t) {
		for _, doc := range docs {
			if doc["kind"] == "NetworkPolicy" {
				out = append(out, policy{file, doc})
			}
		}
	}
	return out
}

// ports lists a rule's ports as "protocol/port".
func ports(rule any) []string {
	var out []string
	for _, p := range list(dig(rule, "ports")) {
		proto, _ := dig(p, "protocol").(string)
		out = append(out, proto+"/"+strings.TrimSpace(strings.Trim(yamlString(dig(p, "port")), `"`)))
	}
	slices.Sort(out)
	return out
}

func yamlString(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func TestKubernetesNetworkPolicy(t *testing.T) {
	t.Parallel()
	pols := networkPolicies(t)
	// Every overlay applies the base policy; the daemon's adds its own.
	for overlay, want := range map[string][]string{"daemon": {"../base", "networkpolicy.yaml"}, "cronjob": {"../base"}} {
		b, err := os.ReadFile(filepath.Join("kubernetes", overlay, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range want {
			if !strings.Contains(string(b), "- "+r+"\n") {
				t.Errorf("overlay %s does not apply %s", overlay, r)
			}
		}
	}
	if b, err := os.ReadFile("kubernetes/base/kustomization.yaml"); err != nil || !strings.Contains(string(b), "- networkpolicy.yaml\n") {
		t.Error("the base does not apply its network policy")
	}
	var base, metrics *policy
	for i, p := range pols {
		switch p.file {
		case filepath.Join("kubernetes", "base", "networkpolicy.yaml"):
			base = &pols[i]
		case filepath.Join("kubernetes", "daemon", "networkpolicy.yaml"):
			metrics = &pols[i]
		}
	}
	if base == nil || metrics == nil {
		t.Fatalf("policies %v: want one in the base and one for the daemon's metrics", pols)
	}

	// The base: every agentsync pod, no ingress, egress to DNS, PostgreSQL
	// and https only, never to private addresses or the cloud metadata
	// service by https.
	selected := yamlString(dig(base.doc, "spec", "podSelector"))
	for _, label := range []string{"agentsync", "agentsync-sync"} {
		if !strings.Contains(selected, "- "+label+"\n") && !strings.HasSuffix(selected, "- "+label) {
			t.Errorf("the base policy does not select the pods labelled %s: %s", label, selected)
		}
	}
	if types := yamlString(dig(base.doc, "spec", "policyTypes")); !strings.Contains(types, "Ingress") || !strings.Contains(types, "Egress") {
		t.Errorf("the base policy types are %s; want Ingress and Egress", types)
	}
	if in := list(dig(base.doc, "spec", "ingress")); len(in) != 0 {
		t.Errorf("the base policy admits %v; want nothing", in)
	}
	var egress []string
	for _, rule := range list(dig(base.doc, "spec", "egress")) {
		p := ports(rule)
		if len(p) == 0 {
			t.Errorf("an egress rule without ports: %v", rule)
		}
		egress = append(egress, p...)
		if slices.Contains(p, "TCP/443") {
			to := yamlString(dig(rule, "to"))
			for _, private := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} {
				if !strings.Contains(to, private) {
					t.Errorf("https egress does not except %s", private)
				}
			}
		}
	}
	slices.Sort(egress)
	if want := []string{"TCP/443", "TCP/53", "TCP/5432", "UDP/53"}; !slices.Equal(egress, want) {
		t.Errorf("egress to %v; want %v", egress, want)
	}

	// The daemon's: its metrics port, from the monitoring namespace alone.
	rules := list(dig(metrics.doc, "spec", "ingress"))
	if len(rules) != 1 {
		t.Fatalf("the metrics policy has %d rules, want 1", len(rules))
	}
	if p := ports(rules[0]); !slices.Equal(p, []string{"TCP/9090"}) {
		t.Errorf("the metrics policy admits ports %v; want the metrics port 9090", p)
	}
	from := list(dig(rules[0], "from"))
	if len(from) != 1 || dig(from[0], "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") != "monitoring" || dig(from[0], "podSelector") != nil || dig(from[0], "ipBlock") != nil {
		t.Errorf("the metrics policy admits %s; want the monitoring namespace only", yamlString(from))
	}
}

func TestKubernetesDatabaseURLVerifiesTheServer(t *testing.T) {
	t.Parallel()
	var raw string
	for _, doc := range kubeDocs(t)[filepath.Join("kubernetes", "base", "configmap.yaml")] {
		raw, _ = dig(doc, "data", "DATABASE_URL").(string)
	}
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		t.Fatalf("DATABASE_URL %q: %v", raw, err)
	}
	if u.Query().Get("sslmode") != "verify-full" {
		t.Errorf("DATABASE_URL %q: want sslmode=verify-full", raw)
	}
	ca := u.Query().Get("sslrootcert")
	if ca == "" {
		t.Fatalf("DATABASE_URL %q names no CA (sslrootcert)", raw)
	}
	// Every workload mounts the CA's ConfigMap where the URL looks for it.
	for where, spec := range podSpecs(t) {
		volumes := map[string]string{}
		for _, v := range list(spec["volumes"]) {
			if cm, ok := dig(v, "configMap", "name").(string); ok {
				volumes[dig(v, "name").(string)] = cm
			}
		}
		mounted := false
		for _, c := range list(spec["containers"]) {
			for _, m := range list(dig(c, "volumeMounts")) {
				path, _ := dig(m, "mountPath").(string)
				name, _ := dig(m, "name").(string)
				if volumes[name] == "agentsync-db-ca" && strings.HasPrefix(ca, strings.TrimSuffix(path, "/")+"/") {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("%s does not mount the agentsync-db-ca ConfigMap where sslrootcert=%s looks", where, ca)
		}
	}
}

// composeHardening is the part of docker-compose.yml this file checks.
type composeHardening struct {
	Services map[string]struct {
		Build       any      `yaml:"build"`
		Ports       []string `yaml:"ports"`
		SecurityOpt []string `yaml:"security_opt"`
		CapDrop     []string `yaml:"cap_drop"`
		ReadOnly    bool     `yaml:"read_only"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func TestComposeIsHardened(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeHardening
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for name, svc := range c.Services {
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q on every interface; bind it to 127.0.0.1", name, p)
			}
		}
		if !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("service %s may gain privileges: security_opt lacks no-new-privileges:true", name)
		}
		if !slices.Equal(svc.CapDrop, []string{"ALL"}) {
			t.Errorf("service %s: cap_drop %v; want [ALL] (and cap_add of what it needs)", name, svc.CapDrop)
		}
		if svc.Build != nil && !svc.ReadOnly {
			t.Errorf("service %s runs agentsync, which writes no file, on a writable root file system", name)
		}
	}
	// The demo secrets stay, and say what they are.
	if len(c.Secrets) == 0 {
		t.Fatal("no secrets")
	}
	for name, s := range c.Secrets {
		v, err := os.ReadFile(filepath.Join("..", s.File))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(v), "compose-demo") {
			t.Errorf("secret %s (%s) does not say it is a demo value", name, s.File)
		}
	}
	if readme, err := os.ReadFile(filepath.Join("compose", "README.md")); err != nil || !strings.Contains(string(readme), "demo") {
		t.Errorf("deploy/compose/README.md does not say its secrets are demo values: %v", err)
	}
}

// TestExamplesBindMetricsToLoopback: outside a container, where nothing
// else must reach it, every example binds the metrics port to 127.0.0.1:
// /metrics names every tenant.
func TestExamplesBindMetricsToLoopback(t *testing.T) {
	t.Parallel()
	for _, f := range []string{filepath.Join("..", "README.md"), filepath.Join("..", "docs", "security.md")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`METRICS_ADDR=("?)([^\s"]*)`).FindAllStringSubmatch(string(b), -1) {
			if !strings.HasPrefix(m[2], "127.0.0.1:") && !strings.HasPrefix(m[2], "localhost:") {
				t.Errorf("%s: %s listens on every interface; bind 127.0.0.1", f, m[0])
			}
		}
	}
}
