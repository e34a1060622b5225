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
	m.TokenFetch(nil)
	m.TokenFetch(errors.New("invalid_client"))
	m.APIRequest(200, 120*time.Millisecond)
	m.APIRequest(429, time.Millisecond)
	m.APIRequest(0, time.Second)
	m.Retry("throttled")
	m.Page(1, 100)
	finished := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m.SyncFinished(Outcome{Status: StatusSucceeded, Duration: 3 * time.Second, FinishedAt: finished, Seen: 10, Inserted: 7, Changed: 2, Unchanged: 1, Deleted: 4, Withheld: 5, Rejected: 6})
	m.SyncFinished(Outcome{Status: StatusFailed, Duration: time.Second, Inserted: 99})
	m.SyncSkipped()

	code, body := get(t, m.Handler(func(context.Context) error { return nil }), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`agentsync_token_fetches_total{result="success"} 1`,
		`agentsync_token_fetches_total{result="failure"} 1`,
		`agentsync_api_requests_total{code="200"} 1`,
		`agentsync_api_requests_total{code="429"} 1`,
		`agentsync_api_requests_total{code="error"} 1`,
		`agentsync_api_throttled_total 1`,
		`agentsync_api_retries_total{reason="throttled"} 1`,
		`agentsync_api_pages_total 1`,
		`agentsync_sync_runs_total{status="succeeded"} 1`,
		`agentsync_sync_runs_total{status="failed"} 1`,
		`agentsync_sync_runs_total{status="skipped"} 1`,
		`agentsync_sync_duration_seconds_count{status="succeeded"} 1`,
		// A failed run changed nothing, so its counts are not added.
		`agentsync_agents_total{outcome="inserted"} 7`,
		`agentsync_agents_total{outcome="changed"} 2`,
		`agentsync_agents_total{outcome="unchanged"} 1`,
		`agentsync_agents_total{outcome="deleted"} 4`,
		`agentsync_agents_total{outcome="withheld"} 5`,
		`agentsync_agents_total{outcome="rejected"} 6`,
		`agentsync_last_success_timestamp_seconds 1.7723664e+09`,
		`agentsync_last_success_agents 10`,
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
	h := New().Handler(func(context.Context) error { return readyErr })
	if code, body := get(t, h, "/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d", code)
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
		done <- Serve(ctx, ln, New().Handler(func(context.Context) error { return nil }), slog.New(slog.DiscardHandler))
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
