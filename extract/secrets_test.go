package extract

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentsync/agentsync/extract/defendertest"
	"github.com/agentsync/agentsync/internal/safetext"
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
// not pulled into the quote in part.
func TestSnippetNeverQuotesPartOfASecret(t *testing.T) {
	t.Parallel()
	const secret = "S3cretValueThatMustNotLeak0123456789"
	for name, body := range map[string]string{
		"after many spaces":   "x" + strings.Repeat(" ", 170) + secret + " more",
		"after control bytes": "x" + strings.Repeat("\x00\t", 90) + secret,
		"at the cut":          strings.Repeat("a", snippetBytes-5) + secret,
		"at the start":        secret + strings.Repeat("b", 300),
	} {
		got := safetext.CutBytes([]byte(body), snippetBytes, secret)
		if strings.Contains(got, secret[:8]) {
			t.Errorf("%s: snippet %q quotes part of the secret", name, got)
		}
		if len(got) > snippetBytes {
			t.Errorf("%s: snippet of %d bytes, want at most %d", name, len(got), snippetBytes)
		}
	}
	if got := safetext.CutBytes([]byte(`{"a":"`+secret+`"}`), snippetBytes, secret); got != `{"a":"[redacted]"}` {
		t.Errorf("snippet = %q, want the secret replaced whole", got)
	}
}

// TestServerBytesInErrorsAndLogsAreSafe: what a broken or hostile server
// sends (a 2 MB bad literal, the client secret and the bearer token echoed
// back, terminal escape sequences, NUL, invalid UTF-8) reaches errors and
// log lines bounded, redacted, escaped and valid UTF-8.
func TestServerBytesInErrorsAndLogsAreSafe(t *testing.T) {
	t.Parallel()
	hostile := "\x1b]0;owned\x07\x1b[2J\x00M\xfcnchen\nBuild " + defendertest.DefaultClientSecret + " " + defendertest.EchoedToken + " "
	bodies := map[string]string{
		"2 MB bad literal":  `{"value":[{"id":"` + hostile + strings.Repeat("A\x01", 1<<20) + `"}]}`,
		"secret at the end": `{"value":[{"id":"` + strings.Repeat("B", 300) + "\n" + defendertest.DefaultClientSecret + `"}]}`,
		// Escaped, as valid JSON carries them.
		"token in a rejected value": `{"value":[{"id":"a_1","lastSeen":"\u001b]0;owned\u0007\u001b[2J\u0000München\nBuild ` +
			defendertest.DefaultClientSecret + " " + defendertest.EchoedToken + `"}, 7]}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, smallTenant(), nil)
			f.tenant.Inject(defendertest.RawBody([]byte(body)))
			_, st, err := f.list(t)
			var texts []string
			if name == "token in a rejected value" {
				if err != nil || st.Rejected != 2 {
					t.Fatalf("List: %v, %+v; want two agents rejected", err, st)
				}
			} else {
				if !errors.Is(err, ErrBadBody) {
					t.Fatalf("List: %v, want ErrBadBody", err)
				}
				texts = append(texts, err.Error())
				if len(err.Error()) > 1024 {
					t.Errorf("error of %d bytes, want about 1 KB at most", len(err.Error()))
				}
			}
			for line := range strings.Lines(f.logs.String()) {
				var entry map[string]any
				if err := json.Unmarshal([]byte(line), &entry); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				for _, v := range entry {
					if s, ok := v.(string); ok {
						texts = append(texts, s)
					}
				}
			}
			if name == "token in a rejected value" && !strings.Contains(f.logs.String(), `malformed timestamp \"\\x1b]0;owned\\x07\\x1b[2JMünchen\\nBuild [redacted] [redacted]\"`) {
				t.Errorf("no rejection reason quoting the value made safe in:\n%s", f.logs)
			}
			secrets := append(f.tenant.IssuedTokens(), defendertest.DefaultClientSecret)
			for _, s := range texts {
				if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
					t.Errorf("text with control characters or invalid UTF-8: %q", s)
				}
				if len(s) > 1024 {
					t.Errorf("text of %d bytes: %.100q...", len(s), s)
				}
				for _, secret := range secrets {
					if strings.Contains(s, secret) {
						t.Errorf("text shows a secret: %.300q", s)
					}
				}
			}
		})
	}
}

// TestScanCredentialsNeverLeak: a distinct canary in every field of every
// variant of scanAuthenticationParams (and in credential fields sent
// elsewhere) reaches no record, log line or error, whether the
// definitions body reads, is cut short, or is broken around them.
func TestScanCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	defs, canaries := defendertest.CanaryDefinitions(defendertest.Agent{ID: "a_1", MachineID: "m1"})
	var out []string
	for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingCamel, defendertest.CasingPascal, defendertest.CasingSnake} {
		f := setup(t, []defendertest.Option{defendertest.WithScans(defs, nil), defendertest.WithCasing(casing)}, nil)
		got, st, err := f.definitions(t)
		if err != nil || len(got) != len(defs) || st.Rejected != 0 {
			t.Fatalf("%s: %d definitions, %+v, %v", casing, len(got), st, err)
		}
		for i, d := range got[:3] {
			if d.AuthVariant != defs[i].Auth.Variant || d.AuthType != defs[i].Auth.Type {
				t.Errorf("%s: definition %d keeps %q/%q, want the variant and the type", casing, i, d.AuthVariant, d.AuthType)
			}
		}
		b, _ := json.Marshal(got)
		out = append(out, string(b), f.logs.String())
	}

	body := string(defendertest.RenderDefinitions("https://api.security.microsoft.com", defs, defendertest.CasingVendor, ""))
	pw := strings.Index(body, "CANARY-Windows-password")
	pwEnd := pw + strings.IndexByte(body[pw:], '"') + 1
	broken := map[string]string{
		"cut inside a credential":             body[:pw+10],
		"cut after credentials":               body[:len(body)-40],
		"bad literal after a credential":      body[:pwEnd] + ` CANARY-bare-literal` + body[pwEnd:],
		"element that is a credential":        `{"value":["CANARY-element-string", 12345678901234567890]}`,
		"value that is a credential":          `{"value":"CANARY-value-string"}`,
		"nextLink that is a credential":       `{"value":[],"@odata.nextLink":{"password":"CANARY-nextlink"}}`,
		"unreadable field beside credentials": strings.Replace(body, `"isActive":true`, `"isActive":"CANARY-isactive-not-a-bool"`, 1),
	}
	canaries = append(canaries, "CANARY-bare-literal", "CANARY-element-string", "12345678901234567890", "CANARY-value-string", "CANARY-nextlink")
	for name, b := range broken {
		f := setup(t, []defendertest.Option{defendertest.WithScans(defs, nil)}, nil)
		f.tenant.Inject(defendertest.RawBody([]byte(b)).On(defendertest.DefinitionsPath))
		got, _, err := f.definitions(t)
		if err != nil {
			out = append(out, err.Error())
		}
		j, _ := json.Marshal(got)
		out = append(out, name, string(j), f.logs.String())
	}
	all := strings.Join(out, "\n")
	if !strings.Contains(all, "not valid JSON") || !strings.Contains(all, "dropped unread") || !strings.Contains(all, "isActive") {
		t.Fatalf("the runs did not fail or warn as planned:\n%s", all)
	}
	for _, c := range canaries {
		if strings.Contains(all, c) {
			i := strings.Index(all, c)
			t.Errorf("canary %s leaked: %q", c, all[max(0, i-300):min(len(all), i+len(c)+50)])
		}
	}
}

// TestEveryIssuedTokenIsRedacted: an error body of the token endpoint or
// of the API that quotes a token issued earlier in the process, opaque
// rather than shaped like a JWT, shows it in no error and no log line.
func TestEveryIssuedTokenIsRedacted(t *testing.T) {
	t.Parallel()
	// Tokens shorter-lived than the early expiry: every request fetches one.
	f := setup(t, smallTenant(defendertest.WithTokenLifetime(time.Minute)), nil)
	if _, _, err := f.list(t); err != nil {
		t.Fatal(err)
	}
	first := f.tenant.IssuedTokens()[0]
	if strings.HasPrefix(first, "eyJ") {
		t.Fatalf("token %q is shaped like a JWT; the test needs an opaque one", first)
	}
	var errs []string
	for _, fault := range []defendertest.Fault{
		defendertest.RawResponse(http.StatusBadRequest, []byte(`{"error":"invalid_grant","error_description":"AADSTS50000: token `+first+` was issued before"}`)).OnToken(),
		defendertest.RawResponse(http.StatusBadRequest, []byte(`not json: `+first)).OnToken(),
		defendertest.RawResponse(http.StatusForbidden, []byte(`{"error":{"code":"Forbidden","message":"not `+first+`","target":"`+first+`"}}`)),
		defendertest.RawResponse(http.StatusBadGateway, []byte(`<html>upstream said `+first+`</html>`)).Always(),
	} {
		f.tenant.Inject(fault)
		_, _, err := f.list(t)
		if err == nil {
			t.Fatal("List: no error")
		}
		errs = append(errs, err.Error())
	}
	all := strings.Join(errs, "\n") + "\n" + f.logs.String()
	if !strings.Contains(all, "was issued before") || !strings.Contains(all, "upstream said") || !strings.Contains(all, "retrying API request") {
		t.Fatalf("the listings did not fail as planned:\n%s", all)
	}
	for _, tok := range f.tenant.IssuedTokens() {
		if i := strings.Index(all, tok); i >= 0 {
			t.Errorf("an issued token shows: %q", all[max(0, i-200):min(len(all), i+len(tok)+20)])
		}
	}
}

// TestCredentialMembersAreRemovedAtAnyDepth: agents and definitions that
// carry a canary under every credential-like name, in several casings, at
// depths 1 to 3, keep none of them, nor an undocumented object of a
// definition; harmless members, documented ones included, stay; the
// listing logs how many members it removed and their names, never a
// value.
func TestCredentialMembersAreRemovedAtAnyDepth(t *testing.T) {
	t.Parallel()
	agents, canaries := defendertest.CanaryAgents([]defendertest.Agent{{ID: "a_1", MachineID: "m1"}, {ID: "a_2", MachineID: "m2"}})
	defs, defCanaries := defendertest.CanaryDefinitions(agents[0])
	canaries = append(canaries, defCanaries...)
	var out []string
	for _, casing := range []defendertest.Casing{defendertest.CasingVendor, defendertest.CasingSnake} {
		f := setup(t, []defendertest.Option{defendertest.WithAgents(agents), defendertest.WithScans(defs, nil), defendertest.WithCasing(casing)}, nil)
		recs, st, err := f.list(t)
		if err != nil || len(recs) != 2 {
			t.Fatalf("List: %d agents, %v", len(recs), err)
		}
		// Per agent: 42 names at each of three depths, and a password in
		// an array.
		if st.CredentialsRemoved != 2*(3*42+1) || len(st.CredentialNames) == 0 || len(st.CredentialNames) > maxCredentialNames ||
			!slices.IsSorted(st.CredentialNames) {
			t.Errorf("agents: removed %d, names %q", st.CredentialsRemoved, st.CredentialNames)
		}
		got, dst, err := f.definitions(t)
		if err != nil || len(got) != len(defs) {
			t.Fatalf("ListDefinitions: %d, %v", len(got), err)
		}
		if dst.CredentialsRemoved == 0 || len(dst.CredentialNames) == 0 {
			t.Errorf("definitions: removed %d, names %q", dst.CredentialsRemoved, dst.CredentialNames)
		}
		for _, d := range got[:3] {
			if _, ok := d.Extra["scanAuthenticationParamsV2"]; ok {
				t.Errorf("definition %s keeps an undocumented object", d.ID)
			}
			if _, ok := d.Extra["vendorObject"]; ok {
				t.Errorf("definition %s keeps an undocumented object", d.ID)
			}
		}
		a, _ := json.Marshal(recs)
		d, _ := json.Marshal(got)
		// What stays: harmless members at every depth, documented fields.
		for _, kept := range []string{`"harmless-3"`, `"harmless-2"`, `"monkeyCount":3`, `"keyboardLayout":"de-CH"`, `"address":"10.0.0.1"`} {
			if !strings.Contains(string(a), kept) {
				t.Errorf("the agents lost %s: %s", kept, a)
			}
		}
		for _, kept := range []string{`"advancedActiveConfiguration":{`, `"siteId":"harmless-2"`, `"isTroubleshootMode":false`, `"auth_variant":"SnmpAuthParams"`, `"auth_type":"AuthPriv"`} {
			if !strings.Contains(string(d), kept) {
				t.Errorf("the definitions lost %s: %s", kept, d)
			}
		}
		if got[0].Extra == nil || got[0].Name == "" || got[0].ScannerAgentID != "a_1" {
			t.Errorf("definition %+v lost its documented fields", got[0])
		}
		logs := f.logs.String()
		if !strings.Contains(logs, "agents: removed members that may hold credentials") || !strings.Contains(logs, "scan definitions: removed members") ||
			!strings.Contains(logs, `"members_removed":`) {
			t.Errorf("no log line of the removed members:\n%s", logs)
		}
		out = append(out, string(a), string(d), logs)
	}
	all := strings.Join(out, "\n")
	for _, c := range canaries {
		if i := strings.Index(all, c); i >= 0 {
			t.Errorf("canary %s leaked: %q", c, all[max(0, i-200):min(len(all), i+len(c)+50)])
		}
	}
}
