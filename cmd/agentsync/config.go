package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// databaseSettings are the settings of every command that uses PostgreSQL.
type databaseSettings struct {
	URL string
}

func (s *databaseSettings) register(fs *flagSet) {
	fs.String(&s.URL, "database-url", "DATABASE_URL", "",
		"PostgreSQL connection `url` (pgx syntax; PG* variables are honoured too)")
}

// logSettings choose the log format and level.
type logSettings struct {
	Format, Level string
}

func (s *logSettings) register(fs *flagSet) {
	fs.String(&s.Format, "log-format", "LOG_FORMAT", "", "log `format`: text or json (default: text on a terminal, else json)")
	fs.String(&s.Level, "log-level", "LOG_LEVEL", "info", "log `level`: debug, info, warn or error")
}

// defenderSettings are the settings of the Defender API client.
type defenderSettings struct {
	TenantID              string
	TenantsFile           string
	ClientID              string
	ClientSecret          string
	ClientSecretFile      string
	ClientCertificateFile string
	Cloud                 string
	Region                string
	APIURL                string
	TokenURL              string
	Scope                 string
}

func (s *defenderSettings) register(fs *flagSet) {
	fs.String(&s.TenantID, "tenant-id", "DEFENDER_TENANT_ID", "", "Microsoft Entra tenant `ids`: a GUID or a domain, or several separated by commas sharing one application")
	fs.String(&s.TenantsFile, "tenants-file", "DEFENDER_TENANTS_FILE", "", "`path` of a YAML file listing the tenants, with per-tenant overrides; the other Defender settings are their defaults")
	fs.String(&s.ClientID, "client-id", "DEFENDER_CLIENT_ID", "", "application (client) `id`")
	fs.String(&s.ClientSecret, "client-secret", "DEFENDER_CLIENT_SECRET", "", "client `secret` (prefer the environment or a file over this flag)")
	fs.String(&s.ClientSecretFile, "client-secret-file", "DEFENDER_CLIENT_SECRET_FILE", "", "`path` of a file holding the client secret")
	fs.String(&s.ClientCertificateFile, "client-certificate-file", "DEFENDER_CLIENT_CERTIFICATE_FILE", "", "`path` of a PEM file with certificate and private key, for JWT client assertions")
	fs.String(&s.Cloud, "cloud", "DEFENDER_CLOUD", "commercial", "`cloud` name: commercial, gcc, gcc-high or dod")
	fs.String(&s.Region, "region", "DEFENDER_REGION", "", "API `region`: us, eu, uk, au, swa or ina (commercial only; default: global host)")
	fs.String(&s.APIURL, "api-url", "DEFENDER_API_URL", "", "API base `url`; overrides cloud and region; {tenant} becomes each tenant's id")
	fs.String(&s.TokenURL, "token-url", "DEFENDER_TOKEN_URL", "", "OAuth token endpoint `url`; overrides the cloud's authority; {tenant} becomes each tenant's id")
	fs.String(&s.Scope, "scope", "DEFENDER_SCOPE", "", "OAuth `scope` (default: https://api.securitycenter.microsoft.com/.default)")
}

// secretFromFile returns the content of path with surrounding whitespace
// removed, for the *_FILE settings (Docker and Kubernetes secrets).
func secretFromFile(setting, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, never its content, and the path only
		// when it is one: a secret given instead is not echoed.
		return "", safetext.FileError(setting, path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", setting, safetext.Escape(path))
	}
	return v, nil
}
