package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// databaseSettings are the settings of every command that uses PostgreSQL.
type databaseSettings struct {
	URL string `name:"database-url" envvar:"DATABASE_URL" placeholder:"url" help:"PostgreSQL connection url (pgx syntax; PG* variables are honoured too)"`
}

// logSettings choose the log format and level.
type logSettings struct {
	Format string `name:"log-format" envvar:"LOG_FORMAT" placeholder:"format" help:"log format: text or json (default: text on a terminal, else json)"`
	Level  string `name:"log-level" envvar:"LOG_LEVEL" placeholder:"level" default:"info" help:"log level: debug, info, warn or error"`
}

// defenderSettings are the settings of the Defender API client.
type defenderSettings struct {
	TenantID              string `name:"tenant-id" envvar:"DEFENDER_TENANT_ID" placeholder:"ids" help:"Microsoft Entra tenant ids: a GUID or a domain, or several separated by commas sharing one application"`
	TenantsFile           string `name:"tenants-file" envvar:"DEFENDER_TENANTS_FILE" placeholder:"path" help:"path of a YAML file listing the tenants, with per-tenant overrides; the other Defender settings are their defaults"`
	ClientID              string `name:"client-id" envvar:"DEFENDER_CLIENT_ID" placeholder:"id" help:"application (client) id"`
	ClientSecret          string `name:"client-secret" envvar:"DEFENDER_CLIENT_SECRET" placeholder:"secret" help:"client secret (prefer the environment or a file over this flag)"`
	ClientSecretFile      string `name:"client-secret-file" envvar:"DEFENDER_CLIENT_SECRET_FILE" placeholder:"path" help:"path of a file holding the client secret"`
	ClientCertificateFile string `name:"client-certificate-file" envvar:"DEFENDER_CLIENT_CERTIFICATE_FILE" placeholder:"path" help:"path of a PEM file with certificate and private key, for JWT client assertions"`
	Cloud                 string `name:"cloud" envvar:"DEFENDER_CLOUD" placeholder:"cloud" default:"commercial" help:"cloud name: commercial, gcc, gcc-high or dod"`
	Region                string `name:"region" envvar:"DEFENDER_REGION" placeholder:"region" help:"API region: us, eu, uk, au, swa or ina (commercial only; default: global host)"`
	APIURL                string `name:"api-url" envvar:"DEFENDER_API_URL" placeholder:"url" help:"API base url; overrides cloud and region; {tenant} becomes each tenant's id"`
	TokenURL              string `name:"token-url" envvar:"DEFENDER_TOKEN_URL" placeholder:"url" help:"OAuth token endpoint url; overrides the cloud's authority; {tenant} becomes each tenant's id"`
	Scope                 string `name:"scope" envvar:"DEFENDER_SCOPE" placeholder:"scope" help:"OAuth scope (default: https://api.securitycenter.microsoft.com/.default)"`
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
