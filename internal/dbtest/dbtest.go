// Package dbtest gives each test its own PostgreSQL database, cloned from a
// template that is migrated once per migration set (pgtestdb). The server is
// TEST_DATABASE_URL, or the local one at 127.0.0.1:5432. Connections made
// through this package use an empty search_path, so SQL that does not name
// its schema fails in tests as it would for a user with another search_path.
//
// A passing test's database is dropped; a failing test's database is kept
// and its name logged, for inspection with psql.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/peterldowns/pgtestdb"

	"github.com/agentsync/agentsync/internal/pooling"
	"github.com/agentsync/agentsync/migrations"
)

// DefaultURL is the server tests use when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// role owns and connects to the test databases. It has no password: tests
// run against a server that trusts local connections, and the connection
// strings that pgtestdb logs then carry no secret.
var role = pgtestdb.Role{
	Username:     "agentsync_test",
	Capabilities: "NOSUPERUSER NOCREATEDB NOCREATEROLE",
}

// ServerURL returns the URL of the test server.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a new migrated database for t and returns its connection
// string, with an empty search_path and agentsync's query mode.
func URL(t testing.TB) string {
	t.Helper()
	conf := pgtestdb.Custom(t, serverConfig(t), migrator{})
	return withEmptySearchPath(t, conf.URL())
}

// withEmptySearchPath returns the connection string raw with an empty
// search_path.
func withEmptySearchPath(t testing.TB, raw string) string {
	t.Helper()
	u, err := parseURL(raw)
	if err != nil {
		t.Fatalf("test database url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", "")
	q.Set("sslmode", "disable")
	// The mode agentsync runs in (internal/pooling), so that every test
	// proves its statements work through a transaction pooler.
	q.Set("default_query_exec_mode", pooling.DefaultExecModeName)
	u.RawQuery = q.Encode()
	return u.String()
}

// PlainURL returns the test database URL raw without the statement mode
// that URL sets, so that agentsync chooses the mode as for a user's plain
// URL (internal/pooling).
func PlainURL(t testing.TB, raw string) string {
	t.Helper()
	u, err := parseURL(raw)
	if err != nil {
		t.Fatalf("test database url: %v", err)
	}
	q := u.Query()
	q.Del("default_query_exec_mode")
	u.RawQuery = q.Encode()
	return u.String()
}

// parseURL parses a connection URL; its error never quotes the URL, which
// may hold a password.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	var ue *url.Error
	if errors.As(err, &ue) {
		return nil, ue.Err
	}
	return u, err
}

// Pool creates a new migrated database for t and returns a pool connected
// to it, closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// EmptyURL creates a new database for t with nothing in it (no migrations
// applied) and returns its connection string, with an empty search_path.
func EmptyURL(t testing.TB) string {
	t.Helper()
	conf := pgtestdb.Custom(t, serverConfig(t), pgtestdb.NoopMigrator{})
	return withEmptySearchPath(t, conf.URL())
}

func serverConfig(t testing.TB) pgtestdb.Config {
	t.Helper()
	ensureRoles(t)
	u, err := parseURL(ServerURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL is not a URL (value not shown: it may hold a password): %v", err)
	}
	pass, _ := u.User.Password()
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      u.Hostname(),
		Port:                      u.Port(),
		User:                      u.User.Username(),
		Password:                  pass,
		Database:                  u.Path[min(1, len(u.Path)):],
		Options:                   u.RawQuery,
		TestRole:                  &role,
		ForceTerminateConnections: true,
	}
	if conf.Port == "" {
		conf.Port = "5432"
	}
	if conf.Database == "" {
		conf.Database = "postgres"
	}
	return conf
}

// migrator builds the template database with the embedded migrations; its
// hash covers every migration file and where goose's records live, so a
// changed migration gets a new template.
type migrator struct{}

func (migrator) Hash() (string, error) {
	h := sha256.New()
	h.Write([]byte(migrations.VersionTable + " " + migrations.LockTable + "\n"))
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16], err
}

func (migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	_, err := migrations.Up(ctx, db, nil)
	return err
}
