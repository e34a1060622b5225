package extract

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentsync/agentsync/extract/defendertest"
)

// TestNoSecretInLogsOrErrors runs listings that succeed and fail in every
// way that involves credentials, logging at debug level, and checks that
// no client secret, bearer token or client assertion appears in any log
// line or error.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	t.Parallel()
	const wrongSecret = "wrong~secret~that~must~not~leak"
	var out []string // every log and error text
	var secrets []string

	run := func(f *fixture, faults ...defendertest.Fault) {
		f.tenant.Inject(faults...)
		_, _, err := f.list(t)
		if err != nil {
			out = append(out, err.Error())
		}
		out = append(out, f.logs.String())
		secrets = append(secrets, f.tenant.IssuedTokens()...)
		secrets = append(secrets, f.tenant.Assertions()...)
	}

	// A full listing through retries, then API errors with a token.
	f := setup(t, smallTenant(), nil)
	run(f, defendertest.TooManyRequests("1"), defendertest.ServerError(503).OnPage(2), defendertest.HTMLPage(502).OnPage(3))
	run(f, defendertest.Status(http.StatusForbidden))
	run(f, defendertest.HTMLPage(200))
	run(f, defendertest.TruncatedBody())
	f.tenant.RevokeTokens()
	run(f, defendertest.Status(http.StatusUnauthorized).Always())
	// A refused secret.
	run(setup(t, smallTenant(), func(c *Config) { c.ClientSecret = wrongSecret }))
	// Certificate authentication, good and refused.
	run(certificateSetup(t))
	c, err := appCertificate()
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "app.pem", c.pem)
	run(setup(t, smallTenant(), func(cfg *Config) { cfg.ClientSecret, cfg.CertificateFile = "", path }))

	secrets = append(secrets, defendertest.DefaultClientSecret, wrongSecret)
	if len(f.tenant.IssuedTokens()) < 2 {
		t.Fatalf("the tenant issued %d tokens; the test needs a refresh", len(f.tenant.IssuedTokens()))
	}
	all := strings.Join(out, "\n")
	if !strings.Contains(all, `"level":"DEBUG"`) || !strings.Contains(all, "AADSTS7000215") || !strings.Contains(all, "AADSTS700027") {
		t.Fatalf("the runs did not log at debug level or fail as planned:\n%s", all)
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret to look for")
		}
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("a secret leaked: %q", all[max(0, i-200):min(len(all), i+len(s)+50)])
		}
	}
}

// TestSnippetNeverQuotesPartOfASecret checks the quote of a body in an
// error: a secret is replaced whole, and one that starts past the cut is
// not pulled into the quote in part when runs of spaces or control
// characters before it fold away.
func TestSnippetNeverQuotesPartOfASecret(t *testing.T) {
	t.Parallel()
	const secret = "S3cretValueThatMustNotLeak0123456789"
	for name, body := range map[string]string{
		"after many spaces":   "x" + strings.Repeat(" ", 170) + secret + " more",
		"after control bytes": "x" + strings.Repeat("\x00\t", 90) + secret,
		"at the cut":          strings.Repeat("a", snippetBytes-5) + secret,
		"at the start":        secret + strings.Repeat("b", 300),
	} {
		got := snippet([]byte(body), secret)
		if strings.Contains(got, secret[:8]) {
			t.Errorf("%s: snippet %q quotes part of the secret", name, got)
		}
		if len(got) > snippetBytes+len("…") {
			t.Errorf("%s: snippet of %d bytes, want at most %d", name, len(got), snippetBytes)
		}
	}
	if got := snippet([]byte(`{"a":"`+secret+`"}`), secret); got != `{"a":"[redacted]"}` {
		t.Errorf("snippet = %q, want the secret replaced whole", got)
	}
}
