package extract

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/logtest"
	"github.com/agentsync/agentsync/scanagent"
)

// fastRetries keeps fault tests quick: waits of milliseconds, a 429's
// Retry-After capped at 20ms.
var fastRetries = RetryPolicy{
	MaxAttempts:     4,
	InitialInterval: time.Millisecond,
	MaxInterval:     5 * time.Millisecond,
	MaxElapsed:      30 * time.Second,
	MaxRetryAfter:   20 * time.Millisecond,
}

// fixture is a simulated tenant and a client of it.
type fixture struct {
	tenant *defendertest.Server
	client *Client
	logs   *logtest.Buffer
	obs    *recordingObserver
	cfg    Config
}

// setup starts a simulated tenant with tenantOpts and builds a client for
// it with the tenant's default credentials, unlimited rate budget and fast
// retries. edit may change the config before the client is built.
func setup(t *testing.T, tenantOpts []defendertest.Option, edit func(*Config), opts ...Option) *fixture {
	t.Helper()
	srv := defendertest.NewServer(tenantOpts...)
	t.Cleanup(srv.Close)
	f := &fixture{tenant: srv, logs: &logtest.Buffer{}, obs: &recordingObserver{}}
	f.cfg = Config{
		TenantID:       defendertest.DefaultTenantID,
		ClientID:       defendertest.DefaultClientID,
		ClientSecret:   defendertest.DefaultClientSecret,
		APIURL:         srv.URL,
		TokenURL:       srv.TokenURL(),
		RequestTimeout: 5 * time.Second,
	}
	if edit != nil {
		edit(&f.cfg)
	}
	base := []Option{
		WithHTTPClient(srv.Client()),
		WithLogger(slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithObserver(f.obs),
		WithRateBudget(RateBudget{}),
		WithRetryPolicy(fastRetries),
	}
	c, err := New(f.cfg, append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.client = c
	return f
}

// list runs one listing and collects its records.
func (f *fixture) list(t *testing.T) ([]scanagent.Record, scanagent.ListStats, error) {
	t.Helper()
	var recs []scanagent.Record
	st, err := f.client.List(context.Background(), func(r scanagent.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, st, err
}

// recordingObserver remembers what it is told.
type recordingObserver struct {
	mu          sync.Mutex
	statuses    []int
	retries     []string
	tokenErrors []error
	tokenFetchs int
	pages       []int
	onRequest   func(status int)
}

func (o *recordingObserver) APIRequest(status int, _ time.Duration) {
	o.mu.Lock()
	o.statuses = append(o.statuses, status)
	hook := o.onRequest
	o.mu.Unlock()
	if hook != nil {
		hook(status)
	}
}

func (o *recordingObserver) Retry(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries = append(o.retries, reason)
}

func (o *recordingObserver) TokenFetch(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokenFetchs++
	if err != nil {
		o.tokenErrors = append(o.tokenErrors, err)
	}
}

func (o *recordingObserver) Page(page, _ int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pages = append(o.pages, page)
}

func (o *recordingObserver) retried() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.retries)
}

// writeFile writes data to a new file in the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
