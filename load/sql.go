package load

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

// The loader's statements, one per file under sql/, named for what they
// do: each file starts with a comment saying so and what its parameters
// ($1 … $n) are. A statement is written whole in its file and sent as it
// is: no SQL is assembled at run time.
//
//go:embed sql/*.sql
var sqlFiles embed.FS

// statements are the embedded statements, by name (the file name without
// .sql).
var statements = func() map[string]string {
	files, err := fs.Glob(sqlFiles, "sql/*.sql")
	if err != nil {
		panic(err)
	}
	m := make(map[string]string, len(files))
	for _, f := range files {
		b, err := sqlFiles.ReadFile(f)
		if err != nil {
			panic(err)
		}
		m[strings.TrimSuffix(path.Base(f), ".sql")] = string(b)
	}
	return m
}()

// olderSchemaStatements are the statements a loader sends only to a
// database before a schema version (Config.schemaBefore: tests of
// earlier migrations), by the first version without what they name.
var olderSchemaStatements = map[string]int64{
	"history_store_target_rows": 39, // 00039_targets_stored_once.sql
	"runs_finish_zero_counts":   41, // 00041_zero_counts_stored_as_null.sql
	"runs_fail_zero_counts":     41,
}

// query returns the statement of the file sql/<name>.sql. An unknown name
// is a programming error, which TestEveryStatementIsUsed catches.
func query(name string) string {
	s, ok := statements[name]
	if !ok {
		panic("load: no statement sql/" + name + ".sql")
	}
	return s
}
