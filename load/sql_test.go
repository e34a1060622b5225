package load

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/dbtest"
)

// queryNames returns the names the package's Go sources (tests aside) pass
// to query, each as a string literal.
func queryNames(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "query" || len(call.Args) != 1 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: query takes a string literal, so that every statement can be found", fset.Position(call.Pos()))
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			names[s] = true
			return true
		})
	}
	return names
}

// TestEveryStatementIsUsed checks that every embedded statement is named
// by some query call, and every name passed to query has its file.
func TestEveryStatementIsUsed(t *testing.T) {
	used := queryNames(t)
	if len(used) == 0 {
		t.Fatal("no query call found")
	}
	for name := range statements {
		if !used[name] {
			t.Errorf("sql/%s.sql is embedded but never used", name)
		}
	}
	for name := range used {
		if _, ok := statements[name]; !ok {
			t.Errorf("query(%q) names no file sql/%s.sql", name, name)
		}
	}
}

// TestStatementsSayWhatTheyDo checks that every file starts with a comment
// and names each of its parameters in it.
func TestStatementsSayWhatTheyDo(t *testing.T) {
	for name, text := range statements {
		if !strings.HasPrefix(text, "-- ") {
			t.Errorf("sql/%s.sql does not start with a comment", name)
			continue
		}
		var header []string
		for _, line := range strings.Split(text, "\n") {
			if !strings.HasPrefix(line, "--") {
				break
			}
			header = append(header, line)
		}
		comment := strings.Join(header, "\n")
		for i := 1; strings.Contains(text, "$"+strconv.Itoa(i)); i++ {
			if !strings.Contains(comment, "$"+strconv.Itoa(i)) {
				t.Errorf("sql/%s.sql: its comment does not say what $%d is", name, i)
			}
		}
	}
}

// TestEveryStatementParses prepares every embedded statement on a migrated
// database, with the work tables of a sync, so that PostgreSQL parses it
// and resolves every name and parameter type in it: at the latest schema,
// or for a statement of an older one (olderSchemaStatements), at the
// schema before the version it names.
func TestEveryStatementParses(t *testing.T) {
	t.Run("latest", func(t *testing.T) {
		prepareStatements(t, dbtest.URL(t), func(name string) bool { _, older := olderSchemaStatements[name]; return !older })
	})
	for name, version := range olderSchemaStatements {
		t.Run(name, func(t *testing.T) {
			pool, p := dbtest.Unmigrated(t)
			if _, err := p.UpTo(context.Background(), version-1); err != nil {
				t.Fatal(err)
			}
			prepareStatements(t, pool.Config().ConnString(), func(n string) bool { return n == name })
		})
	}
}

// prepareStatements prepares the statements which chooses on the
// database at url, in a transaction holding the work tables of a sync.
func prepareStatements(t *testing.T, url string, which func(name string) bool) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, query("sync_configure"), workMem); err != nil {
		t.Fatal(err)
	}
	// The work tables of every resource, which their statements read.
	for _, ddl := range slices.Concat(workTables, definitionWorkTables, historyWorkTables) {
		if _, err := tx.Exec(ctx, ddl); err != nil {
			t.Fatalf("create a work table: %v\n%s", err, ddl)
		}
	}
	var names []string
	for name := range statements {
		if which(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no statement to prepare")
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := tx.Prepare(ctx, name, statements[name]); err != nil {
			t.Errorf("sql/%s.sql: %v", name, err)
		}
	}
}

// TestNoStatementInGo checks that the package's Go sources (tests aside)
// hold no SQL statement of their own: every statement is in sql/. The
// exception is the partition DDL of DropObservations, which names a
// partition (an identifier cannot be a parameter).
func TestNoStatementInGo(t *testing.T) {
	sqlLike := regexp.MustCompile(`(?i)\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\.|DELETE\s+FROM|CREATE\s+(TEMPORARY\s+)?TABLE|ALTER\s+TABLE|DROP\s+TABLE|ANALYZE\s+pg_temp|SET\s+LOCAL)\b`)
	allowed := map[string]bool{
		"`ALTER TABLE defender_storage.observation DETACH PARTITION %s %s`": true,
		"`DROP TABLE `": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if ok && lit.Kind == token.STRING && sqlLike.MatchString(lit.Value) && !allowed[lit.Value] {
				t.Errorf("%s: SQL in Go; give it a file under sql/: %.60s", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
	}
}
