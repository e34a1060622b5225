package tenants

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "s3cr3t~value~never~shown"

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommaSeparatedTenantsShareTheApplication(t *testing.T) {
	t.Parallel()
	got, err := Load(Defaults{
		TenantIDs: " contoso.onmicrosoft.com, 2f0c6a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57 ,",
		ClientID:  "app", ClientSecret: secret,
		TokenURL: "http://127.0.0.1:8080/{tenant}/oauth2/v2.0/token",
		APIURL:   "http://127.0.0.1:8080/{tenant}",
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "contoso.onmicrosoft.com" || got[1].ID != "2f0c6a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57" {
		t.Fatalf("tenants = %+v", got)
	}
	if got[1].TokenURL != "http://127.0.0.1:8080/2f0c6a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57/oauth2/v2.0/token" ||
		got[0].APIURL != "http://127.0.0.1:8080/contoso.onmicrosoft.com" {
		t.Fatalf("{tenant} not replaced: %+v", got)
	}
	for _, tn := range got {
		if !tn.Enabled || tn.ClientSecret != secret || tn.ClientID != "app" {
			t.Fatalf("tenant %+v does not carry the shared application", tn)
		}
	}
}

func TestTenantsFileOverridesTheDefaults(t *testing.T) {
	t.Parallel()
	own := write(t, "fabrikam.secret", "fabrikam~secret\n")
	file := write(t, "tenants.yaml", `
tenants:
  - id: contoso.onmicrosoft.com
    name: Contoso
  - id: fabrikam.onmicrosoft.com
    name: Fabrikam Ltd
    client_id: other-app
    client_secret_file: `+own+`
    region: eu
    token_url: https://login.example.test/{tenant}/token
  - id: northwind.onmicrosoft.com
    client_certificate_file: /run/secrets/northwind.pem
  - id: retired.onmicrosoft.com
    enabled: false
`)
	got, err := Load(Defaults{ClientID: "app", ClientSecret: secret, TenantIDs: "ignored"}, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d tenants", len(got))
	}
	c, f, n, r := got[0], got[1], got[2], got[3]
	if c.Name != "Contoso" || c.ClientID != "app" || c.ClientSecret != secret || !c.Enabled {
		t.Errorf("contoso = %+v", c)
	}
	if f.Name != "Fabrikam Ltd" || f.ClientID != "other-app" || f.ClientSecret != "fabrikam~secret" || f.Region != "eu" ||
		f.TokenURL != "https://login.example.test/fabrikam.onmicrosoft.com/token" {
		t.Errorf("fabrikam = %+v", f)
	}
	if n.ClientSecret != "" || n.ClientCertificateFile != "/run/secrets/northwind.pem" {
		t.Errorf("northwind = %+v: its certificate replaces the default secret", n)
	}
	if r.Enabled || len(Enabled(got)) != 3 {
		t.Errorf("retired = %+v", r)
	}
	sel, err := Select(got, []string{"FABRIKAM.onmicrosoft.com", "contoso.onmicrosoft.com"})
	if err != nil || len(sel) != 2 || sel[0].ID != f.ID {
		t.Errorf("Select = %+v, %v", sel, err)
	}
	if _, err := Select(got, []string{"nobody.example"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "nobody.example") {
		t.Errorf("Select of an unknown tenant: %v", err)
	}
}

// TestConfigurationErrorsNameFileTenantAndKey: each mistake is named by the
// file, the line, the tenant and the key; a secret written in the file is
// refused without its value ever appearing.
func TestConfigurationErrorsNameFileTenantAndKey(t *testing.T) {
	t.Parallel()
	defaults := Defaults{ClientID: "app", ClientSecret: secret}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"inline secret", "tenants:\n  - id: contoso\n    client_secret: " + secret + "\n",
			[]string{`line 3`, `tenant "contoso"`, "client_secret", "inline"}},
		{"inline password under another name", "tenants:\n  - id: contoso\n    appSecret: " + secret + "\n",
			[]string{`tenant "contoso"`, "appSecret", "inline"}},
		{"unknown key", "tenants:\n  - id: contoso\n    regoin: eu\n",
			[]string{`line 3`, `tenant "contoso"`, `unknown key "regoin"`}},
		{"duplicate id", "tenants:\n  - id: contoso\n  - id: CONTOSO\n",
			[]string{`line 3`, `tenant "CONTOSO"`, "twice", "line 2"}},
		{"missing id", "tenants:\n  - name: Contoso\n",
			[]string{"tenant 1", "id: missing"}},
		{"unknown top-level key", "tenant:\n  - id: contoso\n",
			[]string{`unknown key "tenant"`}},
		{"no tenants", "tenants: []\n", []string{"at least one tenant"}},
		{"not yaml", "tenants: [\n", []string{"not YAML"}},
		{"bad enabled", "tenants:\n  - id: contoso\n    enabled: maybe\n", []string{`tenant "contoso"`, "enabled", "true or false"}},
		{"unreadable secret file", "tenants:\n  - id: contoso\n    client_secret_file: /nonexistent/secret\n",
			[]string{`tenant "contoso"`, "client_secret_file", "does not exist"}},
		{"both credentials", "tenants:\n  - id: contoso\n    client_secret_file: /a\n    client_certificate_file: /b\n",
			[]string{`tenant "contoso"`, "not both"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := write(t, "tenants.yaml", tc.yaml)
			_, err := Load(defaults, file)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want a configuration error", err)
			}
			msg := err.Error()
			for _, w := range append(tc.want, file) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error %q quotes the secret", msg)
			}
		})
	}
}

func TestTenantsWithoutCredentialsAreRefused(t *testing.T) {
	t.Parallel()
	if _, err := Load(Defaults{TenantIDs: "contoso", ClientID: "app"}, ""); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `tenant "contoso": no credentials`) {
		t.Errorf("no secret: %v", err)
	}
	if _, err := Load(Defaults{TenantIDs: "contoso", ClientSecret: secret}, ""); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no client id") {
		t.Errorf("no client id: %v", err)
	}
	file := write(t, "tenants.yaml", "tenants:\n  - id: contoso\n  - id: fabrikam\n    client_secret_file: "+write(t, "s", "x")+"\n")
	if _, err := Load(Defaults{ClientID: "app"}, file); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `tenant "contoso": no credentials`) {
		t.Errorf("a file tenant without credentials: %v", err)
	}
	// A disabled tenant needs none: it is not synced.
	file = write(t, "tenants.yaml", "tenants:\n  - id: contoso\n    enabled: false\n")
	if _, err := Load(Defaults{ClientID: "app"}, file); err != nil {
		t.Errorf("a disabled tenant without credentials: %v", err)
	}
	if _, err := Load(Defaults{TenantIDs: "a, b, A", ClientID: "app", ClientSecret: secret}, ""); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate ids in DEFENDER_TENANT_ID: %v", err)
	}
	if _, err := Load(Defaults{ClientID: "app", ClientSecret: secret}, ""); err == nil || !strings.Contains(err.Error(), "no tenant") {
		t.Errorf("no tenant: %v", err)
	}
}

// TestASecretGivenAsAPathIsNotEchoed: a secret set where the path of its
// file belongs (DEFENDER_CLIENT_SECRET_FILE, client_secret_file) gives an
// error that names the setting and says the file does not exist, without
// quoting the value.
func TestASecretGivenAsAPathIsNotEchoed(t *testing.T) {
	t.Parallel()
	check := func(what string, err error, setting string) {
		t.Helper()
		switch {
		case err == nil:
			t.Fatalf("%s: no error", what)
		case strings.Contains(err.Error(), secret):
			t.Errorf("%s: the secret shows: %v", what, err)
		case !strings.Contains(err.Error(), setting) || !strings.Contains(err.Error(), "does not exist"):
			t.Errorf("%s: %v; want it to name %s and say the file does not exist", what, err, setting)
		}
	}
	_, err := Load(Defaults{TenantIDs: "contoso.com", ClientID: "app", ClientSecretFile: secret}, "")
	check("DEFENDER_CLIENT_SECRET_FILE", err, "DEFENDER_CLIENT_SECRET_FILE")
	file := write(t, "tenants.yaml", "tenants:\n  - id: contoso.com\n    client_secret_file: "+secret+"\n")
	_, err = Load(Defaults{ClientID: "app", ClientSecret: "default"}, file)
	check("client_secret_file", err, "client_secret_file")
	_, err = Load(Defaults{ClientID: "app", ClientSecret: "default"}, secret)
	check("DEFENDER_TENANTS_FILE", err, "DEFENDER_TENANTS_FILE")
}
