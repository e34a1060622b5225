package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	tm.SyncFinished(Outcome{Status: StatusSucceeded, Duration: 3 * time.Second, FinishedAt: finished, Seen: 10, Inserted: 7, Changed: 2, Unchanged: 1, Deleted: 4, Withheld: 5, Rejected: 6})
	tm.SyncFinished(Outcome{Status: StatusFailed, Duration: time.Second, Inserted: 99})
	tm.SyncSkipped()

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
		`agentsync_agents_total{outcome="unchanged",tenant="contoso"} 1`,
		`agentsync_agents_total{outcome="deleted",tenant="contoso"} 4`,
		`agentsync_agents_total{outcome="withheld",tenant="contoso"} 5`,
		`agentsync_agents_total{outcome="rejected",tenant="contoso"} 6`,
		`agentsync_last_success_timestamp_seconds{tenant="contoso"} 1.7723664e+09`,
		`agentsync_last_success_timestamp_seconds{tenant="fabrikam"} 0`,
		`agentsync_last_success_agents{tenant="contoso"} 10`,
		`go_goroutines`,
	} {
		if !hasLine(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "invalid_client") {
		t.Error("/metrics shows a token error text")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var readyErr error
	var notes []string
	h := New().Handler(func(context.Context) ([]string, error) { return notes, readyErr })
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
