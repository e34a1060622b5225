package extract

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/logtest"
	"github.com/agentsync/agentsync/scanagent"
)

// thief is the other end of a redirect: it records whatever reaches it.
type thief struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newThief(t *testing.T, tls bool) *thief {
	th := &thief{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		th.mu.Lock()
		th.got = append(th.got, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization")+" "+string(body))
		th.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"stolen","value":[]}`)
	})
	if tls {
		th.srv = httptest.NewTLSServer(h)
	} else {
		th.srv = httptest.NewServer(h)
	}
	t.Cleanup(th.srv.Close)
	return th
}

func (th *thief) requests() []string {
	th.mu.Lock()
	defer th.mu.Unlock()
	return append([]string(nil), th.got...)
}

// TestRedirectsAreRefused: a token endpoint or an API that answers with a
// redirect, to another port or to plain http, fails the request with
// ErrRedirect; the other end receives nothing, so neither the client
// secret nor a token.
func TestRedirectsAreRefused(t *testing.T) {
	t.Parallel()
	plain, otherPort := newThief(t, false), newThief(t, true)
	agent := defendertest.Agent{ID: "a_1", MachineID: "m1"}
	defs := []defendertest.Definition{{ID: "d1", Name: "scan", ScanType: "Network", IsActive: true, ScannerAgent: agent}}
	cases := []struct {
		name   string
		path   string // the request answered with a redirect
		status int
		to     *thief
		run    func(*Client) error
	}{
		{"token 307 to http", "/oauth2/", http.StatusTemporaryRedirect, plain, listAgents},
		{"token 308 to another port", "/oauth2/", http.StatusPermanentRedirect, otherPort, listAgents},
		{"agents 302 to another port", defendertest.ListPath, http.StatusFound, otherPort, listAgents},
		{"agents 307 to http", defendertest.ListPath, http.StatusTemporaryRedirect, plain, listAgents},
		{"definitions 301 to http", defendertest.DefinitionsPath, http.StatusMovedPermanently, plain, listDefinitions},
		{"history POST 307 to another port", "/GetScanHistoryByScanDefinitionId", http.StatusTemporaryRedirect, otherPort, listHistory},
		{"history POST 308 to http", "/GetScanHistoryByScanDefinitionId", http.StatusPermanentRedirect, plain, listHistory},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tenant := defendertest.New(defendertest.WithAgents([]defendertest.Agent{agent}), defendertest.WithScans(defs, nil))
			api := tenant.Handler()
			front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, tc.path) {
					w.Header().Set("Location", tc.to.srv.URL+r.URL.Path+"?"+r.URL.RawQuery)
					w.WriteHeader(tc.status)
					return
				}
				api.ServeHTTP(w, r)
			}))
			defer front.Close()
			logs := &logtest.Buffer{}
			c, err := New(Config{
				TenantID:       defendertest.DefaultTenantID,
				ClientID:       defendertest.DefaultClientID,
				ClientSecret:   defendertest.DefaultClientSecret,
				APIURL:         front.URL,
				TokenURL:       front.URL + defendertest.TokenPath(defendertest.DefaultTenantID),
				RequestTimeout: 5 * time.Second,
			}, WithHTTPClient(front.Client()), WithRetryPolicy(fastRetries), WithRateBudget(RateBudget{}),
				WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			if err != nil {
				t.Fatal(err)
			}
			err = tc.run(c)
			if !errors.Is(err, ErrRedirect) {
				t.Fatalf("err = %v, want ErrRedirect", err)
			}
			if !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), tc.to.srv.Listener.Addr().String()) {
				t.Errorf("error %q does not say where the redirect pointed", err)
			}
			if got := tc.to.requests(); len(got) > 0 {
				t.Errorf("the other end received %q", got)
			}
			secrets := append(tenant.IssuedTokens(), defendertest.DefaultClientSecret)
			for _, s := range secrets {
				if strings.Contains(err.Error()+logs.String(), s) {
					t.Errorf("a secret in the error or the logs: %s\n%s", err, logs)
				}
			}
			// Refused at once: a redirect is no fault another attempt cures.
			if strings.Contains(logs.String(), "retrying") {
				t.Errorf("the redirect was retried:\n%s", logs)
			}
		})
	}
}

func listAgents(c *Client) error {
	_, err := c.List(context.Background(), func(scanagent.Record) error { return nil })
	return err
}

func listDefinitions(c *Client) error {
	_, err := c.ListDefinitions(context.Background(), func(scanagent.ScanDefinition) error { return nil })
	return err
}

func listHistory(c *Client) error {
	_, err := c.SessionsByDefinition(context.Background(), []string{"d1"}, time.Now().Add(-time.Hour), func(scanagent.ScanSession) error { return nil })
	return err
}
