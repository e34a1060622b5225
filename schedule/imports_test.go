package schedule

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestScheduleKnowsNoDatabaseOrHTTP keeps the package about time only: the
// job it runs is a plain function, so it must not import pgx or net/http.
func TestScheduleKnowsNoDatabaseOrHTTP(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/jackc/") || strings.HasPrefix(path, "net/http") || strings.HasPrefix(path, "database/sql") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
