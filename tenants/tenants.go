// Package tenants reads which Microsoft Defender tenants a deployment
// syncs, and as whom: a comma-separated list of tenant ids sharing one
// application, or a YAML file listing tenants with overrides of their own.
// It resolves every tenant's settings (defaults, overrides, secrets read
// from files, {tenant} in URLs) before anything connects, so a mistake is a
// configuration error that names the file, the tenant and the key.
package tenants

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// ErrConfig marks every configuration error this package returns.
var ErrConfig = errors.New("invalid tenants configuration")

// Placeholder in DEFENDER_API_URL and DEFENDER_TOKEN_URL (and their
// overrides), replaced by each tenant's id.
const Placeholder = "{tenant}"

// Tenant is one tenant to sync, with every setting its client needs. Its
// ClientSecret must never be logged or printed.
type Tenant struct {
	// ID is the Entra tenant id (GUID or domain) as configured.
	ID string
	// Name is the display name stored with the tenant; empty for none.
	Name string
	// Enabled tenants are synced; a disabled one keeps its stored data.
	Enabled bool

	ClientID              string
	ClientSecret          string
	ClientCertificateFile string
	Cloud, Region         string
	APIURL, TokenURL      string
	Scope                 string
}

// Defaults are the DEFENDER_* settings: the tenants of DEFENDER_TENANT_ID
// use them as they are, the tenants of a file unless they override them.
type Defaults struct {
	// TenantIDs is DEFENDER_TENANT_ID: one id, or several separated by
	// commas. Ignored when a file is given.
	TenantIDs             string
	ClientID              string
	ClientSecret          string
	ClientSecretFile      string
	ClientCertificateFile string
	Cloud, Region         string
	APIURL, TokenURL      string
	Scope                 string
}

// Load returns the tenants of file when it is not empty, else those of
// d.TenantIDs, each with its settings resolved. Every error wraps
// ErrConfig.
func Load(d Defaults, file string) ([]Tenant, error) {
	base, err := d.secret()
	if err != nil {
		return nil, err
	}
	if file != "" {
		return loadFile(file, d, base)
	}
	var out []Tenant
	seen := map[string]bool{}
	for _, id := range strings.Split(d.TenantIDs, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if seen[strings.ToLower(id)] {
			return nil, configError("DEFENDER_TENANT_ID: tenant %q is listed twice", id)
		}
		seen[strings.ToLower(id)] = true
		t := d.tenant(id, base)
		if err := t.check("DEFENDER_TENANT_ID"); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, configError("no tenant: set DEFENDER_TENANT_ID (one id, or several separated by commas) or DEFENDER_TENANTS_FILE")
	}
	return out, nil
}

// Enabled returns the enabled tenants of ts.
func Enabled(ts []Tenant) []Tenant {
	var out []Tenant
	for _, t := range ts {
		if t.Enabled {
			out = append(out, t)
		}
	}
	return out
}

// Select returns the tenants of ts whose id is in ids (any case), in the
// order of ids; an id that is not configured is an error.
func Select(ts []Tenant, ids []string) ([]Tenant, error) {
	var out []Tenant
	for _, id := range ids {
		found := false
		for _, t := range ts {
			if strings.EqualFold(t.ID, strings.TrimSpace(id)) {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			return nil, configError("--tenant %q: no such tenant is configured", id)
		}
	}
	return out, nil
}

// credentials is what authenticates the application: a secret or a
// certificate file.
type credentials struct {
	secret, certificateFile string
}

func (c credentials) usable() bool { return c.secret != "" || c.certificateFile != "" }

// secret resolves the default credentials: DEFENDER_CLIENT_SECRET or the
// file DEFENDER_CLIENT_SECRET_FILE names, or a certificate.
func (d Defaults) secret() (credentials, error) {
	c := credentials{secret: d.ClientSecret, certificateFile: strings.TrimSpace(d.ClientCertificateFile)}
	if d.ClientSecretFile != "" {
		if c.secret != "" {
			return c, configError("give DEFENDER_CLIENT_SECRET or DEFENDER_CLIENT_SECRET_FILE, not both")
		}
		s, err := readSecret("DEFENDER_CLIENT_SECRET_FILE", d.ClientSecretFile)
		if err != nil {
			return c, configError("%v", err)
		}
		c.secret = s
	}
	return c, nil
}

// tenant is the tenant id with the defaults.
func (d Defaults) tenant(id string, c credentials) Tenant {
	return Tenant{
		ID:                    id,
		Enabled:               true,
		ClientID:              strings.TrimSpace(d.ClientID),
		ClientSecret:          c.secret,
		ClientCertificateFile: c.certificateFile,
		Cloud:                 d.Cloud,
		Region:                d.Region,
		APIURL:                expand(d.APIURL, id),
		TokenURL:              expand(d.TokenURL, id),
		Scope:                 d.Scope,
	}
}

// check refuses a tenant that cannot authenticate; where says where it was
// configured.
func (t Tenant) check(where string) error {
	switch {
	case t.ClientID == "":
		return configError("%s: tenant %q: no client id (set DEFENDER_CLIENT_ID, or client_id in a tenants file)", where, t.ID)
	case !(credentials{t.ClientSecret, t.ClientCertificateFile}).usable():
		return configError("%s: tenant %q: no credentials (set DEFENDER_CLIENT_SECRET_FILE, DEFENDER_CLIENT_SECRET or DEFENDER_CLIENT_CERTIFICATE_FILE, or client_secret_file or client_certificate_file in a tenants file)", where, t.ID)
	}
	return nil
}

// expand replaces the {tenant} placeholder of a URL with the tenant id.
func expand(url, id string) string {
	return strings.ReplaceAll(strings.TrimSpace(url), Placeholder, id)
}

// readSecret reads the secret file setting names. Its error names the
// setting, never the file's content, and the path only when a file
// exists there (see safetext.FileError): a secret given instead of its
// path is not echoed.
func readSecret(setting, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", safetext.FileError(setting, path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", setting, safetext.Escape(path))
	}
	return s, nil
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}
