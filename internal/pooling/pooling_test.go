package pooling_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentsync/agentsync/internal/pooling"
)

func TestParseConfigPicksAModeAPoolerCarries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want pgx.QueryExecMode
	}{
		{"postgres://u@db/x", pooling.DefaultExecMode},
		{"host=db user=u dbname=x", pooling.DefaultExecMode},
		{"postgres://u@db/x?default_query_exec_mode=cache_statement", pgx.QueryExecModeCacheStatement},
		{"postgres://u@db/x?sslmode=disable&default_query_exec_mode=exec", pgx.QueryExecModeExec},
		{"host=db default_query_exec_mode=simple_protocol", pgx.QueryExecModeSimpleProtocol},
		{"postgres://u@db/x?default_query_exec_mode=" + pooling.DefaultExecModeName, pooling.DefaultExecMode},
		{"postgres://u@db/x?default_query_exec_mode=" + pooling.DirectExecModeName, pooling.DirectExecMode},
	} {
		cfg, err := pooling.ParseConfig(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := cfg.ConnConfig.DefaultQueryExecMode; got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.url, got, tc.want)
		}
		conn, err := pooling.ParseConnConfig(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := conn.DefaultQueryExecMode; got != tc.want {
			t.Errorf("%s: conn mode %v, want %v", tc.url, got, tc.want)
		}
	}
	if pooling.DefaultExecMode == pgx.QueryExecModeCacheStatement {
		t.Error("the default mode keeps named prepared statements on the server, which a transaction pooler loses")
	}
}

func TestConnectionsAreNamedUnlessTheUserNamedThem(t *testing.T) {
	for _, tc := range []struct{ url, env, want string }{
		{"postgres://u@db/x", "", pooling.ApplicationName},
		{"postgres://u@db/x?application_name=grafana-sync", "", "grafana-sync"},
		{"postgres://u@db/x", "from-env", "from-env"},
	} {
		t.Setenv("PGAPPNAME", tc.env)
		cfg, err := pooling.ParseConfig(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ConnConfig.RuntimeParams["application_name"]; got != tc.want {
			t.Errorf("%s with PGAPPNAME=%q: application_name %q, want %q", tc.url, tc.env, got, tc.want)
		}
	}
}
