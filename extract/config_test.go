package extract

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestConfigResolvesHosts(t *testing.T) {
	t.Parallel()
	base := Config{TenantID: "contoso.onmicrosoft.com", ClientID: "app", ClientSecret: "s"}
	tests := []struct {
		name             string
		edit             func(*Config)
		wantList, wantTo string
	}{
		{"commercial default", nil,
			"https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"commercial explicit, upper case", func(c *Config) { c.Cloud = " Commercial " },
			"https://api.security.microsoft.com/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"region eu", func(c *Config) { c.Region = "eu" },
			"https://eu.api.security.microsoft.com/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"region ina", func(c *Config) { c.Region = "INA" },
			"https://ina.api.security.microsoft.com/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"gcc", func(c *Config) { c.Cloud = "gcc" },
			"https://api-gcc.securitycenter.microsoft.us/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"gcc-high", func(c *Config) { c.Cloud = "gcc-high" },
			"https://api-gov.securitycenter.microsoft.us/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"dod", func(c *Config) { c.Cloud = "dod" },
			"https://api-gov.securitycenter.microsoft.us/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"api url overrides cloud and region", func(c *Config) {
			c.Region = "uk"
			c.APIURL = "https://api-us.securitycenter.microsoft.com/"
		},
			"https://api-us.securitycenter.microsoft.com/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"api url with a path prefix", func(c *Config) { c.APIURL = "https://proxy.example.com/defender" },
			"https://proxy.example.com/defender/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		{"token url overrides the authority", func(c *Config) {
			c.Cloud = "dod"
			c.TokenURL = "https://login.example.com/t/oauth2/v2.0/token"
		},
			"https://api-gov.securitycenter.microsoft.us/api/DeviceAuthenticatedScanAgents",
			"https://login.example.com/t/oauth2/v2.0/token"},
		{"loopback http for a simulated tenant", func(c *Config) {
			c.APIURL = "http://127.0.0.1:8080"
			c.TokenURL = "http://localhost:8080/t/oauth2/v2.0/token"
		},
			"http://127.0.0.1:8080/api/DeviceAuthenticatedScanAgents",
			"http://localhost:8080/t/oauth2/v2.0/token"},
		{"loopback ipv6", func(c *Config) { c.APIURL = "http://[::1]:9" },
			"http://[::1]:9/api/DeviceAuthenticatedScanAgents",
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := c.ep.list.String(); got != tt.wantList {
				t.Errorf("list URL %s, want %s", got, tt.wantList)
			}
			if got := c.ep.token.String(); got != tt.wantTo {
				t.Errorf("token URL %s, want %s", got, tt.wantTo)
			}
			if c.cfg.Scope != DefaultScope || c.cfg.PageCap != DefaultPageCap || c.cfg.RequestTimeout != DefaultRequestTimeout || c.cfg.MaxResponseBytes != DefaultMaxResponseBytes {
				t.Errorf("defaults not filled: %v", c.cfg)
			}
		})
	}
}

func TestConfigRejectsBadSettings(t *testing.T) {
	t.Parallel()
	base := Config{TenantID: "8f0c2a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57", ClientID: "app", ClientSecret: "s"}
	tests := []struct {
		name    string
		edit    func(*Config)
		mention string
	}{
		{"no tenant", func(c *Config) { c.TenantID = " " }, "tenant id is required"},
		{"tenant with a slash", func(c *Config) { c.TenantID = "a/../b" }, "tenant id"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client id is required"},
		{"client id with a space", func(c *Config) { c.ClientID = "a b" }, "client id"},
		{"no credential", func(c *Config) { c.ClientSecret = "" }, "client secret or a client certificate"},
		{"both credentials", func(c *Config) { c.CertificateFile = "/x.pem" }, "not both"},
		{"unknown cloud", func(c *Config) { c.Cloud = "azure-china" }, `cloud "azure-china"`},
		{"unknown region", func(c *Config) { c.Region = "fr" }, `region "fr"`},
		{"region outside commercial", func(c *Config) { c.Cloud = "gcc-high"; c.Region = "us" }, "only in the commercial cloud"},
		{"relative api url", func(c *Config) { c.APIURL = "api.security.microsoft.com" }, "absolute https"},
		{"plain http api url", func(c *Config) { c.APIURL = "http://api.security.microsoft.com" }, "loopback"},
		{"plain http token url", func(c *Config) { c.TokenURL = "http://login.example.com/t" }, "loopback"},
		{"ftp api url", func(c *Config) { c.APIURL = "ftp://127.0.0.1" }, "https"},
		{"credentials in url", func(c *Config) { c.APIURL = "https://user:pw@api.example.com" }, "credentials"},
		{"unparsable url with credentials", func(c *Config) { c.APIURL = "https://user:pw@[::1" }, "API URL"},
		{"opaque url with credentials", func(c *Config) { c.APIURL = "user:pw@api.example.com" }, "absolute https"},
		{"query in url", func(c *Config) { c.TokenURL = "https://login.example.com/t?x=1" }, "query"},
		{"negative page cap", func(c *Config) { c.PageCap = -1 }, "page cap"},
		{"unreadable certificate", func(c *Config) { c.ClientSecret = ""; c.CertificateFile = "/nonexistent/cert.pem" }, "client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			tt.edit(&cfg)
			_, err := New(cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want an ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q shows URL credentials", err)
			}
		})
	}
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	t.Parallel()
	cfg := Config{TenantID: "t", ClientID: "c", ClientSecret: "hunter2-secret-value"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("config printed its secret: %s", s)
		}
	}
}

// TestConfigErrorsEchoNoValueThatMayBeSecret: a URL with a query is shown
// with its parameter names only, and a certificate "file" that does not
// exist (a PEM pasted where its path belongs) is not quoted.
func TestConfigErrorsEchoNoValueThatMayBeSecret(t *testing.T) {
	t.Parallel()
	const value = "sig-s3cr3t-never-shown"
	base := Config{TenantID: "8f0c2a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57", ClientID: "app", ClientSecret: "s"}
	for name, tt := range map[string]struct {
		edit    func(*Config)
		mention []string
	}{
		"token url query":    {func(c *Config) { c.TokenURL = "https://login.example.com/t?sig=" + value + "&se=2030" }, []string{"token URL", "query", "sig=…", "se=…"}},
		"api url query":      {func(c *Config) { c.APIURL = "https://api.example.com/?code=" + value }, []string{"API URL", "code=…"}},
		"api url fragment":   {func(c *Config) { c.APIURL = "https://api.example.com/#" + value }, []string{"API URL", "fragment"}},
		"http url query":     {func(c *Config) { c.APIURL = "http://api.example.com/x?k=" + value }, []string{"API URL"}},
		"certificate pasted": {func(c *Config) { c.ClientSecret, c.CertificateFile = "", "-----BEGIN PRIVATE KEY-----\n"+value }, []string{"client certificate", "does not exist"}},
	} {
		cfg := base
		tt.edit(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: New: %v, want an ErrConfig", name, err)
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("%s: the value shows: %v", name, err)
		}
		for _, m := range tt.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: %v; want it to mention %q", name, err, m)
			}
		}
	}
}

func TestConfigErrorOfAnUnparsableURLQuotesNoPartOfIt(t *testing.T) {
	t.Parallel()
	base := Config{TenantID: "8f0c2a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57", ClientID: "app", ClientSecret: "s"}
	for _, raw := range []string{"https://user:pa?ssw0rd@api.example.com", "https://user:ssw0rd@api.example.com:ssw0rd/", "https://api.example.com/%zzssw0rd"} {
		cfg := base
		cfg.APIURL = raw
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "API URL") {
			t.Fatalf("New with API URL %q: %v, want an ErrConfig naming the API URL", raw, err)
		}
		if strings.Contains(err.Error(), "ssw0rd") {
			t.Errorf("API URL %q: the error quotes part of it: %v", raw, err)
		}
	}
}
