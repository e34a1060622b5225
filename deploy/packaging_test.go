package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
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

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/schedule"
	"github.com/agentsync/agentsync/tenants"
)

// These tests read the Dockerfile, docker-compose.yml and the Kubernetes
// manifests under deploy/ and check that they agree with the code: every
// command they run exists, every variable they set is one the command reads,
// the ports they publish are the ones it listens on, and secrets reach it as
// files.

// libpqVariables are the PG* variables pgx honours (besides the
// command's own settings), among them PGPASSFILE, through which the
// deployments hand over the database password.
var libpqVariables = []string{
	"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE",
	"PGSSLMODE", "PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGSSLPASSWORD", "PGSSLSNI", "PGAPPNAME",
	"PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS", "PGTZ", "PGOPTIONS", "PGSSLNEGOTIATION",
}

var envInHelp = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)`)

// commandEnv returns the environment variables command reads, as its --help
// lists them, plus the libpq ones; it fails the test for an unknown command.
func commandEnv(t *testing.T, name string) map[string]bool {
	t.Helper()
	if !slices.Contains(agentsyncCommands(t), name) {
		t.Fatalf("%q is not an agentsync command", name)
	}
	help := agentsyncHelp(t, name)
	names := map[string]bool{}
	for _, m := range envInHelp.FindAllStringSubmatch(help, -1) {
		names[m[1]] = true
	}
	for _, v := range libpqVariables {
		names[v] = true
	}
	return names
}

// allEnv is the union of commandEnv over every command.
func allEnv(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, c := range agentsyncCommands(t) {
		for n := range commandEnv(t, c) {
			names[n] = true
		}
	}
	return names
}

func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// flagValue returns the value of --name in args ("--name v" or "--name=v").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = "-" + strings.TrimLeft(a, "-")
		if a == "-"+name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// dockerInstruction is one instruction of a Dockerfile, continuation lines
// joined.
type dockerInstruction struct {
	keyword string // upper case
	args    string
}

func parseDockerfile(t *testing.T, r io.Reader) []dockerInstruction {
	t.Helper()
	var out []dockerInstruction
	var cur strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // comment inside a continued instruction
			continue
		}
		if body, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		keyword, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{strings.ToUpper(keyword), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued instruction: %q", cur.String())
	}
	return out
}

// execForm parses an instruction's JSON exec form (["a", "b"]).
func execForm(t *testing.T, ins dockerInstruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(ins.args), &args); err != nil {
		t.Fatalf("%s %s: want the JSON exec form: %v", ins.keyword, ins.args, err)
	}
	return args
}

func TestDockerfileBuildsStaticNonRootAgentsync(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	instructions := parseDockerfile(t, f)

	var froms []string
	var build, finalUser string
	var entrypoint, cmd []string
	var finalCopy string
	for _, ins := range instructions {
		switch ins.keyword {
		case "FROM":
			froms = append(froms, ins.args)
			finalUser, entrypoint, cmd, finalCopy = "", nil, nil, ""
		case "RUN":
			if strings.Contains(ins.args, "go build") {
				build = ins.args
			}
		case "USER":
			finalUser = ins.args
		case "ENTRYPOINT":
			entrypoint = execForm(t, ins)
		case "CMD":
			cmd = execForm(t, ins)
		case "COPY":
			if strings.HasPrefix(ins.args, "--from=") {
				finalCopy = ins.args
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %q", froms)
	}
	if !strings.HasPrefix(froms[0], "golang:1.26") {
		t.Errorf("builder stage is %q, want golang:1.26", froms[0])
	}
	if final := froms[len(froms)-1]; final != "scratch" && !(strings.Contains(final, "distroless/static") && strings.Contains(final, "nonroot")) {
		t.Errorf("final stage is %q, want distroless static nonroot or scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.commit=", "./cmd/agentsync"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build %q lacks %q", build, want)
		}
	}
	// The ldflags set these variables: the binary built with them says so.
	if v := agentsyncVersion(t); !strings.Contains(v, "agentsync "+strings.TrimPrefix(testVersion, "v")+" (commit "+testCommit+",") {
		t.Errorf("agentsync built with -X main.version=%s -X main.commit=%s says %q", testVersion, testCommit, v)
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(build)
	if out == nil || !strings.Contains(finalCopy, out[1]) {
		t.Errorf("final stage copies %q, but go build writes %v", finalCopy, out)
	}
	user, _, _ := strings.Cut(finalUser, ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("final stage runs as USER %q, want a non-root user", finalUser)
	}
	if len(entrypoint) != 1 || path.Base(entrypoint[0]) != "agentsync" || !strings.Contains(finalCopy, entrypoint[0]) {
		t.Errorf("ENTRYPOINT %q, want the copied agentsync binary", entrypoint)
	}
	if len(cmd) == 0 || cmd[0] != "run" {
		t.Errorf("CMD %q, want [\"run\"]", cmd)
	}
	commandEnv(t, cmd[0])
}

func TestDockerignoreKeepsTheSources(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var ignored []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored = append(ignored, strings.Trim(line, "/"))
		}
	}
	if !slices.Contains(ignored, ".git") {
		t.Error(".dockerignore does not keep .git out of the build context")
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "migrations", "extract", "load", "schedule", "metrics", "scanagent"} {
		if slices.Contains(ignored, needed) {
			t.Errorf(".dockerignore drops %s, which the build needs", needed)
		}
	}
}

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Version  string                    `yaml:"version"`
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Secrets     []string          `yaml:"secrets"`
	NetworkMode string            `yaml:"network_mode"`
	Volumes     []string          `yaml:"volumes"`
	StopGrace   string            `yaml:"stop_grace_period"`
}

// args returns the service's command as a list.
func (s composeService) args() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, a := range c {
			out = append(out, a.(string))
		}
		return out
	}
	return nil
}

func (s composeService) isAgentsync() bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "agentsync")
}

// containerPorts maps each published container port to its host port.
func (s composeService) containerPorts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range s.Ports {
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if len(parts) < 2 {
			t.Fatalf("port %q: want host:container", p)
		}
		out[parts[len(parts)-1]] = parts[len(parts)-2]
	}
	return out
}

func TestComposeAgreesWithTheCode(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if _, ok := compose.Services["postgres"]; !ok {
		t.Error("no postgres service")
	}
	// The file is in the Compose Specification that Docker Compose v2
	// reads (a project name, no version), and the README says v2 is needed.
	if compose.Name == "" || compose.Version != "" {
		t.Errorf("docker-compose.yml: name %q, version %q; want the Compose v2 format: a name, no version", compose.Name, compose.Version)
	}
	if readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md")); err != nil {
		t.Error(err)
	} else if !strings.Contains(string(readme), "Docker Compose v2") {
		t.Error("README.md does not say that docker-compose.yml needs Docker Compose v2")
	}

	commandsRun := map[string]string{} // subcommand -> service
	listenPorts := map[string]string{} // service -> port it listens on for HTTP
	for name, svc := range compose.Services {
		for _, s := range svc.Secrets {
			sec, ok := compose.Secrets[s]
			if !ok {
				t.Errorf("service %s uses undeclared secret %s", name, s)
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, sec.File)); err != nil {
				t.Errorf("secret %s: %v", s, err)
			}
		}
		if !svc.isAgentsync() {
			continue
		}
		args := svc.args()
		if len(args) == 0 {
			t.Errorf("service %s runs agentsync without a command", name)
			continue
		}
		env := commandEnv(t, args[0])
		commandsRun[args[0]] = name
		for k, v := range svc.Environment {
			if !env[k] {
				t.Errorf("service %s sets %s, which agentsync %s does not read", name, k, args[0])
			}
			if (strings.HasSuffix(k, "_FILE") && k != "DEFENDER_TENANTS_FILE") || k == "PGPASSFILE" {
				secret, ok := strings.CutPrefix(v, "/run/secrets/")
				if !ok || !slices.Contains(svc.Secrets, secret) {
					t.Errorf("service %s: %s=%s is not one of its secrets", name, k, v)
				}
			}
		}
		for _, secretVar := range []string{"DEFENDER_CLIENT_SECRET", "PGPASSWORD"} {
			if _, ok := svc.Environment[secretVar]; ok {
				t.Errorf("service %s puts %s in its environment; use a file", name, secretVar)
			}
		}
		if u, ok := svc.Environment["DATABASE_URL"]; ok {
			if pu, err := url.Parse(u); err != nil {
				t.Errorf("service %s: DATABASE_URL does not parse", name)
			} else if _, has := pu.User.Password(); has {
				t.Errorf("service %s: DATABASE_URL carries a password; use PGPASSFILE", name)
			}
		}
		published := svc.containerPorts(t)
		// A service in another's network namespace is reached through
		// that one's published ports.
		if host, ok := strings.CutPrefix(svc.NetworkMode, "service:"); ok {
			published = compose.Services[host].containerPorts(t)
		}
		switch args[0] {
		case "run":
			addr := svc.Environment["METRICS_ADDR"]
			if v, ok := flagValue(args, "metrics-addr"); ok {
				addr = v
			}
			if addr == "" {
				t.Errorf("service %s runs the daemon without METRICS_ADDR", name)
				break
			}
			if _, ok := published[addrPort(t, addr)]; !ok {
				t.Errorf("service %s listens for metrics on %s but publishes %q", name, addr, svc.Ports)
			}
			if _, err := schedule.Parse(svc.Environment["SYNC_SCHEDULE"]); svc.Environment["SYNC_SCHEDULE"] != "" && err != nil {
				t.Errorf("service %s: %v", name, err)
			}
			if !slices.Contains(args, "--run-on-start") {
				t.Errorf("service %s: the daemon should sync at start", name)
			}
			grace := svc.Environment["SHUTDOWN_GRACE"]
			if v, ok := flagValue(args, "shutdown-grace"); ok {
				grace = v
			}
			checkStopTimeout(t, "service "+name+" stop_grace_period", svc.StopGrace, grace)
		case "simulate":
			listen, ok := flagValue(args, "listen")
			if !ok {
				t.Errorf("service %s runs simulate without --listen", name)
				break
			}
			port := addrPort(t, listen)
			listenPorts[name] = port
			if _, ok := published[port]; len(published) > 0 && !ok {
				t.Errorf("service %s listens on %s but publishes %q", name, listen, svc.Ports)
			}
		}
	}
	for _, want := range []string{"run", "simulate"} {
		if _, ok := commandsRun[want]; !ok {
			t.Errorf("no service runs agentsync %s", want)
		}
	}
	// The daemon reaches the simulator on its listen port: by service name,
	// or on loopback when it shares the simulator's network namespace
	// (agentsync allows plain http only to loopback hosts).
	if daemon, ok := commandsRun["run"]; ok {
		env := compose.Services[daemon].Environment
		for _, k := range []string{"DEFENDER_API_URL", "DEFENDER_TOKEN_URL"} {
			u, err := url.Parse(env[k])
			if err != nil || u.Host == "" {
				t.Errorf("service %s: %s=%q is not a URL", daemon, k, env[k])
				continue
			}
			host := u.Hostname()
			if u.Scheme == "http" {
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					t.Errorf("service %s: %s=%s: plain http is allowed only to loopback hosts", daemon, k, env[k])
					continue
				}
				shared, ok := strings.CutPrefix(compose.Services[daemon].NetworkMode, "service:")
				if !ok {
					t.Errorf("service %s: %s=%s is on loopback, but the service shares no network namespace", daemon, k, env[k])
					continue
				}
				host = shared
			}
			if port, ok := listenPorts[host]; !ok || port != u.Port() {
				t.Errorf("service %s: %s=%s does not point at the simulator (%v)", daemon, k, env[k], listenPorts)
			}
		}
		if sim, ok := commandsRun["simulate"]; ok {
			simEnv := compose.Services[sim].Environment
			for _, k := range []string{"DEFENDER_CLIENT_ID", "DEFENDER_CLIENT_SECRET_FILE"} {
				if env[k] != simEnv[k] {
					t.Errorf("%s differs between %s (%q) and %s (%q)", k, daemon, env[k], sim, simEnv[k])
				}
			}
			// The daemon syncs exactly the tenants the simulator serves.
			served := []string{strings.ToLower(simEnv["DEFENDER_TENANT_ID"])}
			if v, ok := flagValue(compose.Services[sim].args(), "tenants"); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("service %s: --tenants %q", sim, v)
				}
				served = served[:0]
				for i := range n {
					served = append(served, defendertest.TenantIDOf(i))
				}
			}
			var synced []string
			for _, tn := range composeTenants(t, compose.Services[daemon]) {
				synced = append(synced, strings.ToLower(tn.ID))
			}
			if !slices.Equal(synced, served) {
				t.Errorf("service %s syncs tenants %q; the simulator serves %q", daemon, synced, served)
			}
		}
	}
}

// composeTenants returns the enabled tenants a compose service of
// agentsync is configured with: those of its tenants file, read from the
// file mounted from the repository, else of DEFENDER_TENANT_ID.
func composeTenants(t *testing.T, svc composeService) []tenants.Tenant {
	t.Helper()
	env := svc.Environment
	file := ""
	if v, ok := env["DEFENDER_TENANTS_FILE"]; ok {
		for _, m := range svc.Volumes {
			parts := strings.Split(m, ":")
			if len(parts) >= 2 && parts[1] == v {
				file = filepath.Join(repoRoot, parts[0])
			}
		}
		if file == "" {
			t.Fatalf("DEFENDER_TENANTS_FILE=%s is not a file the service mounts (%q)", v, svc.Volumes)
		}
	}
	ts, err := tenants.Load(tenants.Defaults{TenantIDs: env["DEFENDER_TENANT_ID"], ClientID: env["DEFENDER_CLIENT_ID"],
		ClientSecret: "from the secret file", APIURL: env["DEFENDER_API_URL"], TokenURL: env["DEFENDER_TOKEN_URL"]}, file)
	if err != nil {
		t.Fatalf("the tenants of the compose daemon: %v", err)
	}
	return tenants.Enabled(ts)
}

// k8sObject is the part of a Kubernetes manifest the tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Schedule    string      `yaml:"schedule"`
		Template    podTemplate `yaml:"template"`
		JobTemplate struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Spec struct {
		TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
			RunAsUser    int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []k8sContainer `yaml:"containers"`
		Volumes    []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName string `yaml:"secretName"`
			} `yaml:"secret"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// kubernetesDir holds the Kubernetes manifests: a base of what both ways of
// running agentsync share, and one overlay for each way.
var kubernetesDir = filepath.Join(repoRoot, "deploy", "kubernetes")

// kubernetesOverlays are the directories users apply with kubectl apply -k,
// and the one workload each must hold.
var kubernetesOverlays = map[string]string{"daemon": "Deployment", "cronjob": "CronJob", "prometheus-operator": "Deployment"}

// kustomization is a kustomization.yaml. The tests read its resources only,
// so it may use nothing else (KnownFields): a patch would change what is
// applied behind their back.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Resources  []string `yaml:"resources"`
}

// buildKustomization returns the objects kubectl apply -k dir applies, and
// the manifest files they come from. Every resource must exist.
func buildKustomization(t *testing.T, dir string) ([]k8sObject, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatalf("%s: not a kustomization: %v", dir, err)
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || len(k.Resources) == 0 {
		t.Fatalf("%s/kustomization.yaml: apiVersion %q, kind %q, %d resources", dir, k.APIVersion, k.Kind, len(k.Resources))
	}
	var objects []k8sObject
	var files []string
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		info, err := os.Stat(p)
		switch {
		case err != nil:
			t.Errorf("%s/kustomization.yaml: resource %s: %v", dir, r, err)
		case info.IsDir():
			o, f := buildKustomization(t, p)
			objects, files = append(objects, o...), append(files, f...)
		default:
			objects, files = append(objects, readManifest(t, p)...), append(files, p)
		}
	}
	return objects, files
}

// readManifest reads the objects of a manifest file.
func readManifest(t *testing.T, file string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var objects []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if o.Kind == "" {
			t.Fatalf("%s: a document without kind", file)
		}
		objects = append(objects, o)
	}
	return objects
}

// TestKubernetesOverlaysEachApplyOneWorkload: the Deployment and the
// CronJob are two ways of running agentsync, never both. Each overlay
// applies exactly one of them with the shared base; no manifest lies where
// kubectl apply -f deploy/kubernetes/ would take it, or outside every
// overlay; and the README gives the command of each.
func TestKubernetesOverlaysEachApplyOneWorkload(t *testing.T) {
	t.Parallel()
	if top, _ := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml")); len(top) > 0 {
		t.Errorf("kubectl apply -f deploy/kubernetes/ would apply %q: keep manifests in the base and the overlays", top)
	}
	used := map[string]bool{}
	for overlay, want := range kubernetesOverlays {
		objects, files := buildKustomization(t, filepath.Join(kubernetesDir, overlay))
		for _, f := range files {
			used[f] = true
		}
		workloads := map[string]int{}
		kinds := map[string]bool{}
		for _, o := range objects {
			kinds[o.Kind] = true
			if o.Kind == "Deployment" || o.Kind == "CronJob" {
				workloads[o.Kind]++
			}
		}
		if len(workloads) != 1 || workloads[want] != 1 {
			t.Errorf("kubectl apply -k deploy/kubernetes/%s applies workloads %v, want one %s", overlay, workloads, want)
		}
		for _, shared := range []string{"ConfigMap", "Secret"} {
			if !kinds[shared] {
				t.Errorf("kubectl apply -k deploy/kubernetes/%s applies no %s", overlay, shared)
			}
		}
	}
	manifests, err := filepath.Glob(filepath.Join(kubernetesDir, "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		if filepath.Base(m) != "kustomization.yaml" && !used[m] {
			t.Errorf("%s is in no overlay", m)
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for overlay := range kubernetesOverlays {
		if cmd := "kubectl apply -k deploy/kubernetes/" + overlay; !strings.Contains(string(readme), cmd) {
			t.Errorf("README.md does not say %q", cmd)
		}
	}
}

func TestKubernetesManifestsAgreeWithTheCode(t *testing.T) {
	t.Parallel()
	for overlay := range kubernetesOverlays {
		t.Run(overlay, func(t *testing.T) {
			t.Parallel()
			objects, _ := buildKustomization(t, filepath.Join(kubernetesDir, overlay))
			checkKubernetesObjects(t, objects)
		})
	}
}

// checkKubernetesObjects checks the objects of one overlay against the
// code.
func checkKubernetesObjects(t *testing.T, objects []k8sObject) {
	configMaps := map[string]map[string]string{}
	secrets := map[string]map[string]string{}
	for _, o := range objects {
		switch o.Kind {
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		case "Secret":
			keys := map[string]string{}
			for k, v := range o.Data {
				keys[k] = v
			}
			for k, v := range o.StringData {
				keys[k] = v
			}
			secrets[o.Metadata.Name] = keys
		}
	}
	known := allEnv(t)

	workloads := map[string]bool{}
	for _, o := range objects {
		var pod podTemplate
		var want string
		switch o.Kind {
		case "Deployment":
			pod, want = o.Spec.Template, "run"
		case "CronJob":
			pod, want = o.Spec.JobTemplate.Spec.Template, "sync"
			if _, err := schedule.Parse(o.Spec.Schedule); err != nil {
				t.Errorf("CronJob %s: %v", o.Metadata.Name, err)
			}
		default:
			continue
		}
		workloads[o.Kind] = true
		if !pod.Spec.SecurityContext.RunAsNonRoot || pod.Spec.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s %s: want runAsNonRoot and a non-zero runAsUser", o.Kind, o.Metadata.Name)
		}
		secretVolumes := map[string]string{}    // volume -> secret
		configMapVolumes := map[string]string{} // volume -> ConfigMap
		for _, v := range pod.Spec.Volumes {
			if v.Secret != nil {
				secretVolumes[v.Name] = v.Secret.SecretName
			}
			if v.ConfigMap != nil {
				configMapVolumes[v.Name] = v.ConfigMap.Name
			}
		}
		for _, c := range pod.Spec.Containers {
			where := o.Kind + " " + o.Metadata.Name + " container " + c.Name
			args := append(slices.Clone(c.Command), c.Args...)
			if len(args) == 0 || args[0] != want {
				t.Errorf("%s runs %q, want agentsync %s", where, args, want)
				continue
			}
			env := commandEnv(t, args[0])
			values := map[string]string{}
			for _, ef := range c.EnvFrom {
				switch {
				case ef.ConfigMapRef != nil:
					cm, ok := configMaps[ef.ConfigMapRef.Name]
					if !ok {
						t.Errorf("%s: no ConfigMap %s", where, ef.ConfigMapRef.Name)
					}
					for k, v := range cm {
						if !known[k] {
							t.Errorf("ConfigMap %s sets %s, which no agentsync command reads", ef.ConfigMapRef.Name, k)
						}
						values[k] = v
					}
				case ef.SecretRef != nil:
					t.Errorf("%s: takes a whole Secret as environment; mount it as files", where)
				}
			}
			for _, e := range c.Env {
				if !env[e.Name] {
					t.Errorf("%s sets %s, which agentsync %s does not read", where, e.Name, args[0])
				}
				values[e.Name] = e.Value
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					if _, ok := secrets[ref.Name][ref.Key]; !ok {
						t.Errorf("%s: %s refers to missing Secret key %s/%s", where, e.Name, ref.Name, ref.Key)
					}
				}
			}
			if _, ok := values["DEFENDER_CLIENT_SECRET"]; ok {
				t.Errorf("%s puts the client secret in the environment; use DEFENDER_CLIENT_SECRET_FILE", where)
			}
			if u, err := url.Parse(values["DATABASE_URL"]); err != nil {
				t.Errorf("%s: DATABASE_URL does not parse", where)
			} else if _, has := u.User.Password(); has {
				t.Errorf("%s: DATABASE_URL carries a password; use PGPASSFILE", where)
			}
			// The tenants file is a key of a mounted ConfigMap, and a tenants
			// file agentsync reads: no secret in it.
			if v, ok := values["DEFENDER_TENANTS_FILE"]; ok {
				found := false
				for _, m := range c.VolumeMounts {
					cm, isConfigMap := configMapVolumes[m.Name]
					rest, ok := strings.CutPrefix(v, m.MountPath+"/")
					if !ok || !isConfigMap {
						continue
					}
					found = true
					content, ok := configMaps[cm][rest]
					if !ok {
						t.Errorf("%s: DEFENDER_TENANTS_FILE=%s, but ConfigMap %s has no key %s", where, v, cm, rest)
						continue
					}
					file := filepath.Join(t.TempDir(), rest)
					if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
					ts, err := tenants.Load(tenants.Defaults{ClientID: values["DEFENDER_CLIENT_ID"], ClientSecret: "from the mounted secret"}, file)
					if err != nil || len(tenants.Enabled(ts)) == 0 {
						t.Errorf("%s: the tenants file of ConfigMap %s: %d tenants, %v", where, cm, len(ts), err)
					}
				}
				if !found {
					t.Errorf("%s: DEFENDER_TENANTS_FILE=%s is not in a mounted ConfigMap", where, v)
				}
			}
			// Every other *_FILE setting names a key of a mounted Secret.
			for k, v := range values {
				if (!strings.HasSuffix(k, "_FILE") && k != "PGPASSFILE") || k == "DEFENDER_TENANTS_FILE" {
					continue
				}
				found := false
				for _, m := range c.VolumeMounts {
					secret, isSecret := secretVolumes[m.Name]
					if rest, ok := strings.CutPrefix(v, m.MountPath+"/"); ok && isSecret {
						if _, ok := secrets[secret][rest]; !ok {
							t.Errorf("%s: %s=%s, but Secret %s has no key %s", where, k, v, secret, rest)
						}
						found = true
					}
				}
				if !found {
					t.Errorf("%s: %s=%s is not in a mounted Secret", where, k, v)
				}
			}
			if want == "run" {
				addr := values["METRICS_ADDR"]
				if v, ok := flagValue(args, "metrics-addr"); ok {
					addr = v
				}
				if addr == "" {
					t.Errorf("%s: no METRICS_ADDR for the probes", where)
					continue
				}
				grace := values["SHUTDOWN_GRACE"]
				if v, ok := flagValue(args, "shutdown-grace"); ok {
					grace = v
				}
				stop := "30s" // Kubernetes' default
				if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
					stop = strconv.Itoa(*g) + "s"
				}
				checkStopTimeout(t, where+" terminationGracePeriodSeconds", stop, grace)
				port := addrPort(t, addr)
				for path, p := range map[string]*k8sProbe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
					if p == nil || p.HTTPGet == nil {
						t.Errorf("%s: no HTTP probe on %s", where, path)
						continue
					}
					if p.HTTPGet.Path != path {
						t.Errorf("%s: probe on %s, want %s", where, p.HTTPGet.Path, path)
					}
					if got := strings.TrimSpace(strings.Trim(jsonString(p.HTTPGet.Port), `"`)); got != port {
						t.Errorf("%s: probe %s on port %s, but METRICS_ADDR is %s", where, path, got, addr)
					}
				}
			}
		}
	}
	if len(workloads) == 0 {
		t.Error("no Deployment or CronJob")
	}
}

// checkStopTimeout checks that the orchestrator's stop timeout leaves the
// daemon its whole shutdown grace period (SHUTDOWN_GRACE, default 30s), and
// a few seconds more to roll back and exit, before it kills the process.
func checkStopTimeout(t *testing.T, what, stop, grace string) {
	t.Helper()
	if grace == "" {
		grace = schedule.DefaultShutdownGrace.String()
	}
	g, err := time.ParseDuration(grace)
	if err != nil {
		t.Errorf("%s: shutdown grace %q: %v", what, grace, err)
		return
	}
	if stop == "" {
		stop = "10s" // Docker's default
	}
	s, err := time.ParseDuration(stop)
	if err != nil {
		t.Errorf("%s %q: %v", what, stop, err)
		return
	}
	if s < g+5*time.Second {
		t.Errorf("%s is %s: the orchestrator would kill the daemon before its %s shutdown grace period (and a rollback) ends", what, s, g)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestComposeDatabasePasswordReachesPgxThroughPGPASSFILE checks the chain
// by which compose hands the database password to agentsync: DATABASE_URL
// without a password, PGPASSFILE naming the pgpass secret, whose entry for
// that host, database and user holds the password the postgres service was
// given. pgx (through which agentsync connects) reads PGPASSFILE itself.
func TestComposeDatabasePasswordReachesPgxThroughPGPASSFILE(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	daemon := compose.Services["agentsync"]
	b, err = os.ReadFile(filepath.Join(repoRoot, compose.Secrets["db_password"].File))
	if err != nil {
		t.Fatal(err)
	}
	dbPassword := strings.TrimSpace(string(b))
	if dbPassword == "" {
		t.Fatal("the db_password secret is empty")
	}
	pgpass := filepath.Join(repoRoot, compose.Secrets["pgpass"].File)
	if got := daemon.Environment["PGPASSFILE"]; got != "/run/secrets/pgpass" {
		t.Fatalf("PGPASSFILE = %q, want the pgpass secret", got)
	}
	t.Setenv("PGPASSFILE", pgpass)
	t.Setenv("PGPASSWORD", "")
	cfg, err := pgxpool.ParseConfig(daemon.Environment["DATABASE_URL"])
	if err != nil {
		t.Fatal("the daemon's DATABASE_URL does not parse") // the error could show a password
	}
	if cfg.ConnConfig.Password != dbPassword {
		t.Fatal("the pgpass secret does not give pgx the postgres service's password for DATABASE_URL")
	}
}
