package metrics

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestMetricsExposeObserverAndSyncCounts(t *testing.T) {
	t.Parallel()
	m := New()
	tm := m.Tenant("contoso")
	m.Tenant("fabrikam") // series from the start, at zero
	tm.TokenFetch(nil)
	tm.TokenFetch(errors.New("invalid_client"))
	tm.APIRequest(200, 120*time.Millisecond)
	tm.APIRequest(429, time.Millisecond)
	tm.APIRequest(0, time.Second)
	tm.Retry("throttled")
	tm.Page(1, 100)
	finished := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tm.SyncFinished(Outcome{Status: StatusSucceeded, Duration: 3 * time.Second, FinishedAt: finished, Seen: 13, Inserted: 7, Changed: 2, HeartbeatOnly: 3, Unchanged: 1, Deleted: 4, Withheld: 5, Rejected: 6, FieldsRepaired: 8})
	tm.SyncFinished(Outcome{Status: StatusFailed, Duration: time.Second, Inserted: 99})
	tm.SyncSkipped()
	tm.FieldsRepaired(2) // of the scan definitions and history

	code, body := get(t, m.Handler(func(context.Context) ([]string, error) { return nil, nil }), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`agentsync_token_fetches_total{result="success",tenant="contoso"} 1`,
		`agentsync_token_fetches_total{result="failure",tenant="contoso"} 1`,
		`agentsync_api_requests_total{code="200",tenant="contoso"} 1`,
		`agentsync_api_requests_total{code="429",tenant="contoso"} 1`,
		`agentsync_api_requests_total{code="error",tenant="contoso"} 1`,
		`agentsync_api_throttled_total{tenant="contoso"} 1`,
		`agentsync_api_retries_total{reason="throttled",tenant="contoso"} 1`,
		`agentsync_api_pages_total{tenant="contoso"} 1`,
		`agentsync_sync_runs_total{status="succeeded",tenant="contoso"} 1`,
		`agentsync_sync_runs_total{status="failed",tenant="contoso"} 1`,
		`agentsync_sync_runs_total{status="skipped",tenant="contoso"} 1`,
		`agentsync_sync_runs_total{status="failed",tenant="fabrikam"} 0`,
		`agentsync_sync_duration_seconds_count{status="succeeded"} 1`,
		`agentsync_last_sync_duration_seconds{tenant="contoso"} 1`,
		// A failed run changed nothing, so its counts are not added.
		`agentsync_agents_total{outcome="inserted",tenant="contoso"} 7`,
		`agentsync_agents_total{outcome="changed",tenant="contoso"} 2`,
		`agentsync_agents_total{outcome="seen",tenant="contoso"} 3`,
		`agentsync_fields_repaired_total{tenant="contoso"} 10`,
		`agentsync_agents_total{outcome="unchanged",tenant="contoso"} 1`,
		`agentsync_agents_total{outcome="deleted",tenant="contoso"} 4`,
		`agentsync_agents_total{outcome="withheld",tenant="contoso"} 5`,
		`agentsync_agents_total{outcome="rejected",tenant="contoso"} 6`,
		`agentsync_last_success_timestamp_seconds{tenant="contoso"} 1.7723664e+09`,
		`agentsync_last_success_timestamp_seconds{tenant="fabrikam"} 0`,
		`agentsync_last_failure_timestamp_seconds{tenant="fabrikam"} 0`,
		// Every reason of retries is there from the start, at 0.
		`agentsync_api_retries_total{reason="5xx",tenant="fabrikam"} 0`,
		`agentsync_api_retries_total{reason="429",tenant="contoso"} 0`,
		`agentsync_last_success_agents{tenant="contoso"} 13`,
		`go_goroutines`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The failed run set the time of the latest failure, after the success.
	var failedAt float64
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `agentsync_last_failure_timestamp_seconds{tenant="contoso"} `); ok {
			failedAt, _ = strconv.ParseFloat(v, 64)
		}
	}
	if failedAt < float64(finished.Unix()) {
		t.Errorf("agentsync_last_failure_timestamp_seconds of contoso is %v, want the time of the failed run, after %d", failedAt, finished.Unix())
	}
	if strings.Contains(body, "invalid_client") {
		t.Error("/metrics shows a token error text")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var readyErr error
	var notes []string
	// Results not kept, to see each change at once.
	h := New().handler(&readyCache{ready: func(context.Context) ([]string, error) { return notes, readyErr }, now: time.Now})
	if code, body := get(t, h, "/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d", code)
	}
	notes = []string{"tenant fabrikam: the latest sync (run 7) failed"}
	if code, body := get(t, h, "/readyz"); code != http.StatusOK || !strings.Contains(body, "ready\ntenant fabrikam: the latest sync (run 7) failed") {
		t.Errorf("/readyz when ready with a failing tenant = %d %q", code, body)
	}
	readyErr = errors.New("last sync failed")
	if code, body := get(t, h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "last sync failed") {
		t.Errorf("/readyz when not ready = %d %q", code, body)
	}
	if code, _ := get(t, h, "/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing = %d", code)
	}
}

func TestServeAnswersUntilCancelled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, New().Handler(func(context.Context) ([]string, error) { return nil, nil }), slog.New(slog.DiscardHandler))
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// hasLine reports whether body has the line want, or a line starting with
// want and a space (a sample line whose value the test does not fix).
func hasLine(body, want string) bool {
	for line := range strings.Lines(body) {
		line = strings.TrimSuffix(line, "\n")
		if line == want || strings.HasPrefix(line, want+" ") {
			return true
		}
	}
	return false
}

// TestReadinessAnswersFromARecentResult: /readyz runs its check (a query
// per tenant) at most once per ReadyMaxAge, whoever asks and however
// often; requests that arrive while it runs share it; an older result is
// read again.
func TestReadinessAnswersFromARecentResult(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	ready := func(context.Context) ([]string, error) {
		<-release
		mu.Lock()
		defer mu.Unlock()
		calls++
		return []string{fmt.Sprintf("check %d", calls)}, nil
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	cache := &readyCache{ready: ready, maxAge: ReadyMaxAge, now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }}
	h := New().handler(cache)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if code, body := get(t, h, "/readyz"); code != http.StatusOK || !strings.Contains(body, "check 1") {
				t.Errorf("/readyz = %d %q, want the one shared check", code, body)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // the requests reach the check
	close(release)
	wg.Wait()
	for range 50 {
		if _, body := get(t, h, "/readyz"); !strings.Contains(body, "check 1") {
			t.Fatalf("/readyz within %s of the check = %q, want its result", ReadyMaxAge, body)
		}
	}
	clock.Lock()
	now = now.Add(ReadyMaxAge)
	clock.Unlock()
	if _, body := get(t, h, "/readyz"); !strings.Contains(body, "check 2") {
		t.Errorf("/readyz %s after the check = %q, want a new check", ReadyMaxAge, body)
	}
	if calls != 2 {
		t.Errorf("%d checks, want 2", calls)
	}
	// The Handler every command uses keeps results as long.
	n := 0
	h = New().Handler(func(context.Context) ([]string, error) { n++; return nil, nil })
	for range 10 {
		get(t, h, "/readyz")
	}
	if n != 1 {
		t.Errorf("Handler ran its check %d times for 10 requests at once", n)
	}
}

// TestRetryReasonsAreTheExtractPackages: every reason the extract package
// retries a request for (reason: "..." in its source) is one of
// RetryReasons, so that its series is exported at 0 from the start.
func TestRetryReasonsAreTheExtractPackages(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "extract", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "retryable" {
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if k, isIdent := kv.Key.(*ast.Ident); !ok || !isIdent || k.Name != "reason" {
					continue
				}
				if v, ok := kv.Value.(*ast.BasicLit); ok {
					reason, _ := strconv.Unquote(v.Value)
					found++
					if !slices.Contains(RetryReasons, reason) {
						t.Errorf("%s retries for reason %q, which RetryReasons lacks", filepath.Base(f), reason)
					}
				}
			}
			return true
		})
	}
	if found < 5 {
		t.Errorf("found %d retry reasons in the extract package; has its retryable type changed?", found)
	}
}
