package extract

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/scanagent"
)

// appCertificate is made once: RSA key generation is the slowest step of
// these tests.
var appCertificate = sync.OnceValues(func() (*appCert, error) {
	cert, pemFile, err := defendertest.NewCertificate("agentsync test")
	return &appCert{cert: cert, pem: pemFile}, err
})

type appCert struct {
	cert *x509.Certificate
	pem  []byte
}

// certificateSetup is setup for a tenant that knows the app by its
// certificate only.
func certificateSetup(t *testing.T, extra ...defendertest.Option) *fixture {
	t.Helper()
	c, err := appCertificate()
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "app.pem", c.pem)
	opts := smallTenant(append([]defendertest.Option{defendertest.WithCertificate(c.cert), defendertest.WithClientSecret("")}, extra...)...)
	return setup(t, opts, func(cfg *Config) {
		cfg.ClientSecret = ""
		cfg.CertificateFile = path
	})
}

func TestCertificateAuthentication(t *testing.T) {
	t.Parallel()
	f := certificateSetup(t)
	want := wantRecords(f.tenant.Agents())
	got, _, err := f.list(t)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	sameRecords(t, got, want)
	assertions := f.tenant.Assertions()
	if len(assertions) != 1 {
		t.Fatalf("%d assertions, want 1", len(assertions))
	}
	header, claims := jwtParts(t, assertions[0])
	if header["alg"] != "RS256" || header["x5t#S256"] == nil {
		t.Errorf("assertion header %v, want RS256 with x5t#S256", header)
	}
	if claims["aud"] != f.tenant.TokenURL() || claims["iss"] != defendertest.DefaultClientID || claims["sub"] != defendertest.DefaultClientID || claims["jti"] == nil {
		t.Errorf("assertion claims %v", claims)
	}
}

func TestCertificateAssertionIsFreshForEachToken(t *testing.T) {
	t.Parallel()
	// One-minute tokens fall within the early-expiry margin, so each
	// page needs a new token, and each token request a new assertion.
	f := certificateSetup(t, defendertest.WithTokenLifetime(time.Minute))
	if _, _, err := f.list(t); err != nil {
		t.Fatal(err)
	}
	assertions := f.tenant.Assertions()
	if len(assertions) != 4 {
		t.Fatalf("%d assertions, want 4", len(assertions))
	}
	jtis := map[any]bool{}
	for _, a := range assertions {
		_, claims := jwtParts(t, a)
		jtis[claims["jti"]] = true
	}
	if len(jtis) != 4 {
		t.Errorf("assertions reuse a jti: %v", jtis)
	}
}

func TestCertificateNotRegisteredIsRefused(t *testing.T) {
	t.Parallel()
	c, err := appCertificate()
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "app.pem", c.pem)
	// The tenant knows the app by its secret only.
	f := setup(t, smallTenant(), func(cfg *Config) {
		cfg.ClientSecret = ""
		cfg.CertificateFile = path
	})
	_, _, err = f.list(t)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != 700027 {
		t.Fatalf("List: %v, want AADSTS700027", err)
	}
}

func TestBadCertificateFilesAreConfigErrors(t *testing.T) {
	t.Parallel()
	c, err := appCertificate()
	if err != nil {
		t.Fatal(err)
	}
	certOnly, _, _ := strings.Cut(string(c.pem), "-----BEGIN PRIVATE KEY-----")
	_, otherPEM, err := defendertest.NewCertificate("another")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := strings.Cut(string(otherPEM), "-----END CERTIFICATE-----\n")
	for name, content := range map[string]string{
		"empty":          "",
		"no key":         certOnly,
		"no certificate": "-----BEGIN PRIVATE KEY-----" + strings.SplitN(string(c.pem), "-----BEGIN PRIVATE KEY-----", 2)[1],
		"foreign key":    certOnly + otherKey,
		"encrypted key":  certOnly + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
	} {
		path := writeFile(t, "bad.pem", []byte(content))
		_, err := New(Config{TenantID: "t", ClientID: "c", CertificateFile: path})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: New: %v, want ErrConfig", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "MII") {
			t.Errorf("%s: error shows the file's content: %v", name, err)
		}
	}
}

func TestEntraErrorsAreTyped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(*Config)
		code   int
		status int
	}{
		{"wrong secret", func(c *Config) { c.ClientSecret = "wrong-secret-value-42" }, 7000215, 401},
		{"unknown application", func(c *Config) { c.ClientID = "00000000-0000-0000-0000-00000000dead" }, 700016, 400},
		{"unknown tenant", func(c *Config) {
			c.TokenURL = strings.Replace(c.TokenURL, defendertest.DefaultTenantID, "nosuch.onmicrosoft.com", 1)
		}, 90002, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, smallTenant(), tt.edit)
			_, st, err := f.list(t)
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("List: %v, want an *AuthError", err)
			}
			aadsts := fmt.Sprintf("AADSTS%d", tt.code)
			if ae.Code != tt.code || ae.AADSTS() != aadsts || ae.StatusCode != tt.status || ae.TraceID == "" || ae.CorrelationID == "" || ae.Description == "" {
				t.Errorf("AuthError %+v, want code %d, status %d, ids and a description", ae, tt.code, tt.status)
			}
			if msg := err.Error(); !strings.Contains(msg, aadsts) || strings.Contains(msg, "\n") || strings.Contains(msg, "wrong-secret-value-42") {
				t.Errorf("error %q: want one line naming %s, without the secret", msg, aadsts)
			}
			// Refused credentials are not retried, and no API call is made.
			if s := f.tenant.Stats(); s.TokenRequests != 1 || s.APIRequests != 0 || st.Requests != 0 {
				t.Errorf("tenant stats %+v, list stats %+v: want one token request and no API request", s, st)
			}
		})
	}
}

// TestEchoedSecretsAreRedacted faces the client with servers that echo
// what they were sent: the secret in Entra's error, the bearer token in an
// API error and in a page that is not JSON. None of it may reach an error.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	t.Parallel()
	const secret = "echo-me-secret-7f3a"
	var mu sync.Mutex
	var tokens []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /t/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("client_secret") == secret {
			tok := fmt.Sprintf("tok-%d-abcdefghijklmnop", time.Now().UnixNano())
			mu.Lock()
			tokens = append(tokens, tok)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":3599,"access_token":%q}`, tok)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_codes": []int{7000215},
			"error_description": "AADSTS7000215: Invalid client secret provided: " + r.PostForm.Get("client_secret")})
	})
	mux.HandleFunc("GET /forbidden/api/DeviceAuthenticatedScanAgents", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "Forbidden", "message": "token " + r.Header.Get("Authorization") + " lacks roles"}})
	})
	mux.HandleFunc("GET /html/api/DeviceAuthenticatedScanAgents", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html>%s</html>", r.Header.Get("Authorization"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var errs []string
	for _, tc := range []struct{ path, secret string }{{"/forbidden", secret}, {"/html", secret}, {"/forbidden", secret + "-wrong"}} {
		c, err := New(Config{TenantID: "t", ClientID: "c", ClientSecret: tc.secret, APIURL: srv.URL + tc.path, TokenURL: srv.URL + "/t/token"},
			WithHTTPClient(srv.Client()), WithRateBudget(RateBudget{}), WithRetryPolicy(fastRetries))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.List(t.Context(), func(scanagent.Record) error { return nil })
		if err == nil {
			t.Fatalf("%s: List succeeded", tc.path)
		}
		errs = append(errs, err.Error())
	}
	mu.Lock()
	secrets := append(slices.Clone(tokens), secret)
	mu.Unlock()
	if len(secrets) < 3 {
		t.Fatalf("the server issued %d tokens", len(secrets)-1)
	}
	for _, msg := range errs {
		for _, s := range secrets {
			if strings.Contains(msg, s) {
				t.Errorf("error %q shows a secret", msg)
			}
		}
		if !strings.Contains(msg, "[redacted]") {
			t.Errorf("error %q: want the echoed secret replaced by [redacted]", msg)
		}
	}
}

// jwtParts decodes a JWT's header and claims without checking it.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}
