package deploy_test

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gopkg.in/yaml.v3"

	"github.com/agentsync/agentsync/internal/dbtest"
	"github.com/agentsync/agentsync/migrations"
)

// setupScript is what the examples have the administrator run.
var setupScript = filepath.Join(repoRoot, "deploy", "postgres", "setup.psql")

// TestComposeRunsAgentsyncAsAnOwnerWithoutPrivileges: the database user of
// agentsync in docker-compose.yml is not the server's administrator
// (POSTGRES_USER, a superuser), and is the owner that the init script has
// deploy/postgres/setup.psql create.
func TestComposeRunsAgentsyncAsAnOwnerWithoutPrivileges(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.Services["agentsync"].Environment["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	user := u.User.Username()
	if admin := c.Services["postgres"].Environment["POSTGRES_USER"]; admin == "" || admin == user {
		t.Errorf("agentsync logs in as %q, the server's superuser POSTGRES_USER (%q)", user, admin)
	}
	if !strings.Contains(strings.Join(c.Services["postgres"].Volumes, "\n"), "./deploy/postgres/setup.psql:/etc/agentsync/setup.psql") {
		t.Errorf("the postgres service does not mount deploy/postgres/setup.psql: %q", c.Services["postgres"].Volumes)
	}
	init, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "compose", "postgres-init", "agentsync-roles.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(init), "-v owner="+user+" ") || !strings.Contains(string(init), "-f /etc/agentsync/setup.psql") {
		t.Errorf("the init script does not run setup.psql for the owner %s:\n%s", user, init)
	}
	pgpass, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "compose", "pgpass"))
	if err != nil || !strings.Contains(string(pgpass), ":agentsync:"+user+":") {
		t.Errorf("deploy/compose/pgpass has no line for %s (%v)", user, err)
	}
}

// TestKubernetesRunsAgentsyncAsTheSetUpOwner: the Kubernetes example logs
// in as the owner that setup.psql creates, whose password the Secret's
// pgpass holds.
func TestKubernetesRunsAgentsyncAsTheSetUpOwner(t *testing.T) {
	t.Parallel()
	docs := kubeDocs(t)
	var dbURL, pgpass string
	for _, list := range docs {
		for _, d := range list {
			if s, ok := dig(d, "data", "DATABASE_URL").(string); ok {
				dbURL = s
			}
			if s, ok := dig(d, "stringData", "pgpass").(string); ok {
				pgpass = s
			}
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil || u.User.Username() == "" {
		t.Fatalf("DATABASE_URL of the Kubernetes example %q names no user (%v)", dbURL, err)
	}
	if !strings.Contains(pgpass, ":"+u.User.Username()+":") {
		t.Errorf("the Secret's pgpass has no line for %s:\n%s", u.User.Username(), pgpass)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "base", "configmap.yaml"))
	if err != nil || !strings.Contains(string(b), "deploy/postgres/setup.psql") {
		t.Errorf("the ConfigMap does not say who creates its DATABASE_URL's user (%v)", err)
	}
}

// TestSetupScriptMakesAnOwnerWithoutPrivilegesThatMigrates runs
// deploy/postgres/setup.psql with psql as the administrator on a new
// database, then migrates as the owner it made: no superuser, CREATEDB or
// CREATEROLE, and the SECURITY DEFINER functions run as it.
func TestSetupScriptMakesAnOwnerWithoutPrivilegesThatMigrates(t *testing.T) {
	t.Parallel()
	psql, err := exec.LookPath("psql")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("psql is not installed")
		}
		t.Skip("psql is not installed")
	}
	ctx := context.Background()
	name, _ := dbtest.AdminDatabase(t)
	owner, login := name+"_owner", name+"_bi"
	t.Cleanup(func() {
		if !t.Failed() {
			dbtest.Admin(t, name, "DROP OWNED BY "+owner+", "+login)
			dbtest.Admin(t, "", "DROP ROLE IF EXISTS "+owner, "DROP ROLE IF EXISTS "+login)
		}
	})
	server, err := url.Parse(dbtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	server.Path = "/" + name
	cmd := exec.Command(psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", server.String(),
		"-v", "owner="+owner, "-v", "owner_password=not-used-here",
		"-v", "reader_login="+login, "-v", "reader_password=not-used-here", "-f", setupScript)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql -f deploy/postgres/setup.psql: %v\n%s", err, out)
	}
	cfg, err := pgx.ParseConfig(server.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = owner, ""
	cfg.RuntimeParams["search_path"] = ""
	db := openDB(t, cfg)
	if _, err := migrations.Up(ctx, db, nil); err != nil {
		t.Fatalf("migrate as the owner setup.psql made: %v", err)
	}
	var super, createDB, createRole bool
	if err := db.QueryRow(`SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&super, &createDB, &createRole); err != nil {
		t.Fatal(err)
	}
	if super || createDB || createRole {
		t.Errorf("the owner has SUPERUSER %v, CREATEDB %v, CREATEROLE %v; want none", super, createDB, createRole)
	}
	var definers int
	if err := db.QueryRow(`
		SELECT count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
		 WHERE p.pronamespace = 'defender'::regnamespace AND p.prosecdef AND (r.rolsuper OR r.rolname <> current_user)`).Scan(&definers); err != nil {
		t.Fatal(err)
	}
	if definers != 0 {
		t.Errorf("%d SECURITY DEFINER functions run as another role than the owner, or a superuser", definers)
	}
	// The BI login reads what defender_reader may.
	cfg.User = login
	reader := openDB(t, cfg)
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM defender.scan_agents`).Scan(&n); err != nil {
		t.Errorf("the BI login of setup.psql reads defender.scan_agents: %v", err)
	}
}

// openDB opens a database/sql handle on cfg, closed when the test ends.
func openDB(t *testing.T, cfg *pgx.ConnConfig) *sql.DB {
	t.Helper()
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestReadmeRunsAgentsyncAsTheOwner: the README's examples never have
// agentsync log in as postgres, the server's superuser, and set up the
// owner with deploy/postgres/setup.psql.
func TestReadmeRunsAgentsyncAsTheOwner(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], "DATABASE_URL=postgres://postgres@") {
			t.Errorf("a README example runs agentsync as the superuser postgres:\n%s", m[1])
		}
		if strings.Contains(m[1], "DATABASE_URL=") && strings.Contains(m[1], "createdb") && !strings.Contains(m[1], "-f deploy/postgres/setup.psql") {
			t.Errorf("a README example creates a database without setting up agentsync's owner:\n%s", m[1])
		}
	}
}
