package extract

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
)

// smallTenant is a tenant of ten agents in pages of three: four pages.
func smallTenant(extra ...defendertest.Option) []defendertest.Option {
	fleet := defendertest.NewFleet(3, 10, fleetStart)
	// At the fleet's start every one of its ten agents is listed.
	return append([]defendertest.Option{defendertest.WithFleet(fleet, fleetStart), defendertest.WithPageSize(3)}, extra...)
}

func TestFaultRetriedToSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  defendertest.Fault
		edit   func(*Config)
		extra  int // requests beyond the four pages
		reason string
	}{
		{"429 with Retry-After seconds", defendertest.TooManyRequests("1").OnPage(2), nil, 1, "429"},
		{"429 with Retry-After HTTP date", defendertest.TooManyRequestsFor(3 * time.Second).OnPage(3), nil, 1, "429"},
		{"429 without Retry-After", defendertest.TooManyRequests(""), nil, 1, "429"},
		{"503 twice then success", defendertest.ServerError(503).Times(2).OnPage(2), nil, 2, "5xx"},
		{"500 three times then success", defendertest.ServerError(500).Times(3), nil, 3, "5xx"},
		{"HTML 502 from a gateway", defendertest.HTMLPage(502).OnPage(4), nil, 1, "5xx"},
		{"slow response times out, then retried", defendertest.Slow(10 * time.Second).OnPage(2),
			func(c *Config) { c.RequestTimeout = 100 * time.Millisecond }, 1, "timeout"},
		{"connection dropped", defendertest.DropConnection().OnPage(3), nil, 1, "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, smallTenant(), tt.edit)
			want := wantRecords(f.tenant.Agents())
			f.tenant.Inject(tt.fault)
			got, st, err := f.list(t)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			sameRecords(t, got, want)
			if st.Pages != 4 || st.Requests != 4+tt.extra {
				t.Errorf("stats %+v, want 4 pages in %d requests", st, 4+tt.extra)
			}
			if got := f.tenant.Stats().APIRequests; got != 4+tt.extra {
				t.Errorf("tenant saw %d API requests, want %d", got, 4+tt.extra)
			}
			if r := f.obs.retried(); len(r) != tt.extra || r[0] != tt.reason {
				t.Errorf("observer saw retries %q, want %d of %q", r, tt.extra, tt.reason)
			}
		})
	}
}

func TestServerErrorAlwaysGivesUpWithinBounds(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.ServerError(500).Always().OnPage(2))
	got, st, err := f.list(t)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || apiErr.Code != "InternalServerError" {
		t.Fatalf("List: %v, want the API's 500 error", err)
	}
	if !strings.Contains(err.Error(), "fetch page 2") || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Errorf("error %q should name the page and the attempts", err)
	}
	if st.Requests != 1+fastRetries.MaxAttempts || len(got) != 3 || st.Pages != 1 {
		t.Errorf("stats %+v with %d records; want page 1 listed, then %d attempts at page 2", st, len(got), fastRetries.MaxAttempts)
	}
}

func TestRetriesGiveUpWithinElapsedTime(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil, WithRetryPolicy(RetryPolicy{
		MaxAttempts: 1000, InitialInterval: 20 * time.Millisecond, MaxInterval: 20 * time.Millisecond, MaxElapsed: 200 * time.Millisecond,
	}))
	f.tenant.Inject(defendertest.ServerError(503).Always())
	start := time.Now()
	_, st, err := f.list(t)
	if err == nil || st.Requests >= 1000 {
		t.Fatalf("List: %v after %d requests, want to give up on time", err, st.Requests)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %s", took)
	}
}

func TestFaultFailsAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    defendertest.Fault
		edit     func(*Config)
		is       error
		mention  []string
		requests int // total API requests
		records  int // records handed on before the failure
	}{
		{"truncated body", defendertest.TruncatedBody().OnPage(2), nil, ErrBadBody,
			[]string{"decode page 2", "status 200", "application/json", "unexpected EOF", "body starts"}, 2, 3},
		{"HTML page with 200", defendertest.HTMLPage(200), nil, ErrBadBody,
			[]string{"decode page 1", "text/html", "<!DOCTYPE html>"}, 1, 0},
		{"404 is not an empty tenant", defendertest.NotFound(), nil, ErrNotFound,
			[]string{"404", "ResourceNotFound", "not taken as an empty tenant", "/api/DeviceAuthenticatedScanAgents"}, 1, 0},
		{"403 Forbidden", defendertest.Status(http.StatusForbidden), nil, nil,
			[]string{"status 403", "Forbidden", "Missing application roles"}, 1, 0},
		{"400 Bad Request", defendertest.Status(http.StatusBadRequest).OnPage(3), nil, nil,
			[]string{"fetch page 3", "status 400", "BadRequest"}, 3, 6},
		{"nextLink loop", defendertest.NextLinkLoop().OnPage(2), nil, ErrNextLinkLoop,
			[]string{"fetch page 3", "/api/DeviceAuthenticatedScanAgents"}, 2, 6},
		{"page cap", defendertest.Fault{}.Times(0), func(c *Config) { c.PageCap = 2 }, ErrPageCap,
			[]string{"fetch page 3", "cap 2 pages"}, 2, 6},
		{"response too large", defendertest.Fault{}.Times(0), func(c *Config) { c.MaxResponseBytes = 600 }, ErrResponseTooLarge,
			[]string{"fetch page 1", "over 600 bytes"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, smallTenant(), tt.edit)
			f.tenant.Inject(tt.fault)
			got, st, err := f.list(t)
			if err == nil {
				t.Fatal("List succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if st.Requests != tt.requests || len(got) != tt.records || len(f.obs.retried()) != 0 {
				t.Errorf("%d requests, %d records, retries %q; want %d requests, %d records, no retry",
					st.Requests, len(got), f.obs.retried(), tt.requests, tt.records)
			}
		})
	}
}

func TestAPIUnauthorizedRefreshesTokenOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	if _, _, err := f.list(t); err != nil {
		t.Fatal(err)
	}
	f.tenant.RevokeTokens()
	if _, _, err := f.list(t); err != nil {
		t.Fatalf("List after the token was revoked: %v", err)
	}
	if s := f.tenant.Stats(); s.TokenRequests != 2 {
		t.Errorf("%d token requests, want 2 (one refresh)", s.TokenRequests)
	}
	if r := f.obs.retried(); !slices.Equal(r, []string{"401"}) {
		t.Errorf("retries %q, want one 401", r)
	}

	// A token the API keeps refusing fails after the one refresh.
	f.tenant.Inject(defendertest.Status(http.StatusUnauthorized).Always())
	_, st, err := f.list(t)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("List: %v, want a 401 APIError", err)
	}
	if st.Requests != 2 {
		t.Errorf("%d requests, want 2: one refusal, one refresh", st.Requests)
	}
}

func TestTokenReusedAcrossListings(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	for range 3 {
		if _, _, err := f.list(t); err != nil {
			t.Fatal(err)
		}
	}
	if s := f.tenant.Stats(); s.TokenRequests != 1 || s.APIRequests != 12 {
		t.Errorf("stats %+v, want 1 token for 12 API requests", s)
	}

	// A token that expires within the early-expiry margin is replaced at
	// each request.
	short := setup(t, smallTenant(defendertest.WithTokenLifetime(time.Minute)), nil)
	if _, _, err := short.list(t); err != nil {
		t.Fatal(err)
	}
	if s := short.tenant.Stats(); s.TokenRequests != 4 {
		t.Errorf("%d token requests for 4 pages with one-minute tokens, want 4", s.TokenRequests)
	}
}

func TestTokenEndpointUnavailableIsRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.TokenServerError(503).Times(2))
	if _, _, err := f.list(t); err != nil {
		t.Fatalf("List: %v", err)
	}
	if s := f.tenant.Stats(); s.TokenRequests != 3 {
		t.Errorf("%d token requests, want 3", s.TokenRequests)
	}
	if r := f.obs.retried(); !slices.Equal(r, []string{"5xx", "5xx"}) {
		t.Errorf("retries %q", r)
	}
	// Logged as token requests, naming the token endpoint, not the API.
	token, err := url.Parse(f.tenant.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	var retries []map[string]any
	for line := range strings.Lines(f.logs.String()) {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := entry["msg"].(string); strings.HasPrefix(msg, "retrying") {
			retries = append(retries, entry)
		}
	}
	if len(retries) != 2 {
		t.Fatalf("%d retries logged, want 2:\n%s", len(retries), f.logs)
	}
	for _, r := range retries {
		if r["msg"] != "retrying token request" || r["endpoint"] != token.Host+token.Path || r["path"] != nil || r["reason"] != "5xx" {
			t.Errorf("retry logged as %v; want \"retrying token request\" naming the endpoint %s", r, token.Host+token.Path)
		}
	}
	if strings.Contains(f.logs.String(), defendertest.DefaultClientSecret) {
		t.Error("the logs show the client secret")
	}
}

func TestTokenEndpointUnreachableIsLoggedAsTheTokenRequest(t *testing.T) {
	t.Parallel()
	const endpoint = "127.0.0.1:1/" + defendertest.DefaultTenantID + "/oauth2/v2.0/token"
	f := setup(t, smallTenant(), func(c *Config) { c.TokenURL = "http://" + endpoint })
	if _, _, err := f.list(t); err == nil {
		t.Fatal("List succeeded without a token")
	}
	logs := f.logs.String()
	if n := strings.Count(logs, `"msg":"retrying token request","endpoint":"`+endpoint+`","reason":"network"`); n != fastRetries.MaxAttempts-1 {
		t.Errorf("%d token retries logged, want %d:\n%s", n, fastRetries.MaxAttempts-1, logs)
	}
	if strings.Contains(logs, "retrying API request") || strings.Contains(logs, defendertest.DefaultClientSecret) {
		t.Errorf("the logs name an API request, or show the secret:\n%s", logs)
	}
}

func TestListStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil, WithRetryPolicy(RetryPolicy{MaxRetryAfter: time.Hour, MaxElapsed: 2 * time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel while the client waits out a one-hour Retry-After.
	f.obs.onRequest = func(status int) {
		if status == http.StatusTooManyRequests {
			cancel()
		}
	}
	f.tenant.Inject(defendertest.TooManyRequests("3600"))
	start := time.Now()
	_, err := f.client.List(ctx, func(scanagent.Record) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("List: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("List took %s to notice", took)
	}
}

func TestListReturnsTheCallbacksError(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	stop := errors.New("loader full")
	n := 0
	st, err := f.client.List(context.Background(), func(scanagent.Record) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "page 2") {
		t.Fatalf("List: %v, want the callback's error on page 2", err)
	}
	if st.Agents != 5 || st.Pages != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestListCountsRejectedAndDuplicateAgents(t *testing.T) {
	t.Parallel()
	agents := []defendertest.Agent{
		{ID: "a", ComputerDNSName: "first"},
		{ID: "", ComputerDNSName: "no id"},
		{ID: "b"},
		{ID: "a", ComputerDNSName: "second"},
	}
	f := setup(t, []defendertest.Option{defendertest.WithAgents(agents), defendertest.WithPageSize(2), defendertest.WithCasing(defendertest.CasingSnake)}, nil)
	got, st, err := f.list(t)
	if err != nil {
		t.Fatal(err)
	}
	want := scanagent.ListStats{Requests: 2, Pages: 2, Agents: 3, Rejected: 1, Unidentified: 1, Duplicates: 1}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if len(got) != 3 || got[0].ComputerDNSName != "first" || got[2].ComputerDNSName != "second" {
		t.Errorf("records %+v: every record with an id is handed on, duplicates included", got)
	}
	logs := f.logs.String()
	for _, m := range []string{`"msg":"agent rejected"`, `"reason":"id: empty or null id"`, `"msg":"agent id listed twice; the last one counts"`} {
		if !strings.Contains(logs, m) {
			t.Errorf("logs lack %s:\n%s", m, logs)
		}
	}
}

func TestRetriesSpendTheRateBudget(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var sent []time.Time
	f := setup(t, smallTenant(), nil, WithRateBudget(RateBudget{PerMinute: 3, PerHour: 5}), func(o *options) { o.clock = clk })
	f.obs.onRequest = func(int) { sent = append(sent, clk.Now()) }
	f.tenant.Inject(defendertest.ServerError(503).Times(3))
	if _, _, err := f.list(t); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 7 {
		t.Fatalf("%d requests, want 7", len(sent))
	}
	if m, h := maxInWindow(sent, time.Minute), maxInWindow(sent, time.Hour); m > 3 || h > 5 {
		t.Errorf("retries broke the budget: %d in a minute, %d in an hour", m, h)
	}
	if took := sent[6].Sub(sent[0]); took < time.Hour {
		t.Errorf("7 requests at 5 an hour took %s of simulated time", took)
	}
}

// TestListRejectsAnIDThatIsNoString: an id sent as a number, a boolean,
// an object or an array is no usable id (the docs say so): the agent is
// rejected and counted as unidentified, which makes the sync withhold its
// deletions, rather than stored under the digits sent.
func TestListRejectsAnIDThatIsNoString(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"id":"a","computerDnsName":"kept"},
		{"id":12345,"computerDnsName":"number"},
		{"id":1.5e3,"computerDnsName":"float"},
		{"id":true,"computerDnsName":"boolean"},
		{"id":["b"],"computerDnsName":"array"},
		{"id":{"v":"c"},"computerDnsName":"object"}]}`)))
	got, st, err := f.list(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "a" {
		t.Errorf("records %+v, want only agent a", got)
	}
	if st.Rejected != 5 || st.Unidentified != 5 || len(st.RejectedIDs) != 0 {
		t.Errorf("stats %+v, want 5 rejected, all 5 unidentified", st)
	}
	logs := f.logs.String()
	for _, m := range []string{`"reason":"id: want an id string, got number 12345"`, `"reason":"id: want an id string, got boolean true"`,
		`"reason":"id: want an id string, got an array"`} {
		if !strings.Contains(logs, m) {
			t.Errorf("logs lack %s:\n%s", m, logs)
		}
	}
}

// TestListDefinitionsRejectsAnIDThatIsNoString: a scan definition's id,
// like an agent's, must be a string; a number is no usable id.
func TestListDefinitionsRejectsAnIDThatIsNoString(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"id":"d-1","scanName":"kept"},
		{"id":4242,"scanName":"number"}]}`)).On(defendertest.DefinitionsPath))
	got, st, err := f.definitions(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "d-1" || st.Rejected != 1 || st.Unidentified != 1 {
		t.Errorf("definitions %+v, stats %+v: want d-1 alone, the number rejected as unidentified", got, st)
	}
}

// TestSessionsRejectAnIDThatIsNoString: a scan session's id, like an
// agent's, must be a string: a session whose id is a number is rejected
// as one without a usable id.
func TestSessionsRejectAnIDThatIsNoString(t *testing.T) {
	t.Parallel()
	f := setup(t, smallTenant(), nil)
	f.tenant.Inject(defendertest.RawBody([]byte(`{"value":[
		{"scanDefinitionId":"def-1","sessionId":"s-1","lastScanned":"2025-09-01T10:00:00Z"},
		{"scanDefinitionId":"def-1","sessionId":4242,"lastScanned":"2025-09-01T09:00:00Z"},
		{"scanDefinitionId":"def-1","sessionId":["s-3"],"lastScanned":"2025-09-01T08:00:00Z"}]}`)).On(defendertest.HistoryByDefinitionPath))
	got, st, err := f.sessions(t, []string{"def-1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].SessionID != "s-1" || got[1].SessionID != "s-3" || st.Rejected != 1 || st.Unidentified != 1 || len(st.RejectedIDs) != 0 {
		t.Errorf("sessions %+v, stats %+v: want s-1 and s-3, the number rejected as unidentified", got, st)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "want an id string, got number 4242") {
		t.Errorf("no warning naming the id that is no string:\n%s", logs)
	}
}
