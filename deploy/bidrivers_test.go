package deploy_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// odbcColumns lists the columns of view as psqlODBC (Debian's
// odbc-postgresql, through unixODBC's isql) describes them to a BI tool,
// with the DSN settings settings, logged in as a member of
// defender_reader: each column's name, SQL data type, size and remarks.
func odbcColumns(t *testing.T, dbURL string, settings map[string]string, view string) [][4]string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	dsn := map[string]string{}
	for k, v := range settings {
		dsn[k] = v
	}
	dsn["Servername"], dsn["Port"], dsn["Database"] = u.Hostname(), port, strings.TrimPrefix(u.Path, "/")
	dsn["Username"], dsn["SSLmode"] = dbtest.ReaderRole, "disable"
	// isql asks for a view's columns by its name alone, where a BI tool
	// names its schema too: the schema on the path stands for that.
	dsn["pqopt"] = "options=-csearch_path=defender"
	var ini strings.Builder
	ini.WriteString("[agentsync]\n")
	for k, v := range dsn {
		fmt.Fprintf(&ini, "%s = %s\n", k, v)
	}
	path := filepath.Join(t.TempDir(), "odbc.ini")
	if err := os.WriteFile(path, []byte(ini.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("isql", "-v", "agentsync", "-b", "-d|")
	cmd.Env = append(os.Environ(), "ODBCINI="+path)
	cmd.Stdin = strings.NewReader("help " + view + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("isql: %v\n%s", err, out)
	}
	var cols [][4]string
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\r\n"), "|")
		if len(f) > 11 && f[2] == view {
			// COLUMN_NAME, DATA_TYPE, COLUMN_SIZE, REMARKS
			cols = append(cols, [4]string{f[3], f[4], f[6], f[11]})
		}
	}
	if len(cols) == 0 {
		t.Fatalf("isql lists no column of %s:\n%s", view, out)
	}
	return cols
}

// TestPsqlODBCSettingsOfTheDocs: with the DSN of docs/postgresql.md,
// psqlODBC describes agentsync's text columns as VARCHAR of the documented
// size, where its defaults make them LONGVARCHAR (a memo that Power BI,
// Excel and Tableau neither group nor filter); and, as the docs say, it
// gives no descriptions.
func TestPsqlODBCSettingsOfTheDocs(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("isql"); err != nil || !fileExists("/etc/odbcinst.ini") {
		if os.Getenv("CI") == "true" {
			t.Fatal("unixODBC's isql or psqlODBC is not installed (apt-get install unixodbc odbc-postgresql)")
		}
		t.Skip("unixODBC's isql or psqlODBC is not installed")
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "postgresql.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```ini\n(.*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/postgresql.md shows no psqlODBC DSN")
	}
	settings := map[string]string{}
	for line := range strings.Lines(m[1]) {
		if k, v, ok := strings.Cut(line, "="); ok {
			settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if settings["TextAsLongVarchar"] != "0" || settings["MaxVarcharSize"] == "" {
		t.Fatalf("the documented DSN sets TextAsLongVarchar %q, MaxVarcharSize %q", settings["TextAsLongVarchar"], settings["MaxVarcharSize"])
	}
	dbURL := dbtest.URL(t)
	const varchar, longVarchar = "12", "-1"
	for _, c := range odbcColumns(t, dbURL, settings, "scan_agents") {
		if c[0] == "computer_dns_name" && (c[1] != varchar || c[2] != settings["MaxVarcharSize"]) {
			t.Errorf("with the documented settings, %s is SQL type %s of size %s; want VARCHAR (%s) of %s", c[0], c[1], c[2], varchar, settings["MaxVarcharSize"])
		}
		if c[3] != "" {
			t.Errorf("psqlODBC gives %s the description %q; docs/postgresql.md says it gives none", c[0], c[3])
		}
	}
	defaults := map[string]string{"Driver": settings["Driver"]}
	for _, c := range odbcColumns(t, dbURL, defaults, "scan_agents") {
		if c[0] == "computer_dns_name" && c[1] != longVarchar {
			t.Errorf("with psqlODBC's defaults, %s is SQL type %s; the docs' reason for the settings (LONGVARCHAR, %s) no longer holds", c[0], c[1], longVarchar)
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
