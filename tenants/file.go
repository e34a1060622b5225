package tenants

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/agentsync/agentsync/internal/safetext"
)

// The keys a tenant of the file may have. Each overrides the DEFENDER_*
// setting of the same name.
var fileKeys = map[string]bool{
	"id": true, "name": true, "enabled": true,
	"client_id": true, "client_secret_file": true, "client_certificate_file": true,
	"cloud": true, "region": true, "api_url": true, "token_url": true, "scope": true,
}

// inlineSecretKeys are keys that would hold a secret in the file itself.
// Their values are never read, nor quoted in an error.
var inlineSecretKeys = map[string]bool{
	"client_secret": true, "secret": true, "password": true, "client_assertion": true,
	"private_key": true, "certificate": true, "token": true, "access_token": true,
}

// loadFile reads a tenants file:
//
//	tenants:
//	  - id: contoso.onmicrosoft.com
//	    name: Contoso
//	  - id: 2f0c6a4e-...
//	    name: Fabrikam
//	    client_secret_file: /run/secrets/fabrikam
//	    enabled: false
func loadFile(file string, d Defaults, base credentials) ([]Tenant, error) {
	fail := func(line int, format string, args ...any) error {
		where := "DEFENDER_TENANTS_FILE " + file
		if line > 0 {
			where += fmt.Sprintf(": line %d", line)
		}
		return configError("%s: %s", where, fmt.Sprintf(format, args...))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, configError("%v", safetext.FileError("DEFENDER_TENANTS_FILE", file, err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// yaml's errors quote no value, only where the syntax broke.
		return nil, fail(0, "not YAML: %v", err)
	}
	if len(doc.Content) == 0 {
		return nil, fail(0, "empty: want a list of tenants under the key tenants")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "want a mapping with the key tenants, holding a list of tenants")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "tenants" {
			return nil, fail(k.Line, "unknown key %q (the file holds only tenants)", k.Value)
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, fail(root.Line, "tenants: want a list of at least one tenant")
	}

	var out []Tenant
	seen := map[string]int{}
	for n, entry := range list.Content {
		if entry.Kind != yaml.MappingNode {
			return nil, fail(entry.Line, "tenant %d: want a mapping of keys such as id and name", n+1)
		}
		values := map[string]*yaml.Node{}
		for i := 0; i+1 < len(entry.Content); i += 2 {
			values[entry.Content[i].Value] = entry.Content[i+1]
		}
		id := ""
		if v := values["id"]; v != nil && v.Kind == yaml.ScalarNode {
			id = strings.TrimSpace(v.Value)
		}
		who := fmt.Sprintf("tenant %d", n+1)
		if id != "" {
			who = fmt.Sprintf("tenant %q", id)
		}
		// Keys in the order written, so the first mistake is the one named.
		for i := 0; i+1 < len(entry.Content); i += 2 {
			k, v := entry.Content[i], entry.Content[i+1]
			key := strings.ToLower(k.Value)
			switch {
			case inlineSecretKeys[key] || (strings.Contains(key, "secret") && !strings.HasSuffix(key, "_file")):
				return nil, fail(k.Line, "%s: %s: secrets never go inline in the file; name a file holding it (client_secret_file)", who, k.Value)
			case !fileKeys[k.Value]:
				return nil, fail(k.Line, "%s: unknown key %q (known: id, name, enabled, client_id, client_secret_file, client_certificate_file, cloud, region, api_url, token_url, scope)", who, k.Value)
			case v.Kind != yaml.ScalarNode:
				return nil, fail(v.Line, "%s: %s: want a single value", who, k.Value)
			}
		}
		if id == "" {
			return nil, fail(entry.Line, "%s: id: missing; every tenant needs its Entra tenant id", who)
		}
		if first, dup := seen[strings.ToLower(id)]; dup {
			return nil, fail(values["id"].Line, "%s: listed twice (first at line %d)", who, first)
		}
		seen[strings.ToLower(id)] = values["id"].Line

		str := func(key, def string) string {
			if v := values[key]; v != nil {
				return strings.TrimSpace(v.Value)
			}
			return def
		}
		t := d.tenant(id, base)
		t.Name = str("name", "")
		t.ClientID = str("client_id", t.ClientID)
		t.Cloud = str("cloud", t.Cloud)
		t.Region = str("region", t.Region)
		t.APIURL = expand(str("api_url", d.APIURL), id)
		t.TokenURL = expand(str("token_url", d.TokenURL), id)
		t.Scope = str("scope", t.Scope)
		if v := values["enabled"]; v != nil {
			var on bool
			if err := v.Decode(&on); err != nil {
				return nil, fail(v.Line, "%s: enabled: want true or false", who)
			}
			t.Enabled = on
		}
		secretFile, certFile := str("client_secret_file", ""), str("client_certificate_file", "")
		switch {
		case secretFile != "" && certFile != "":
			return nil, fail(values["client_secret_file"].Line, "%s: give client_secret_file or client_certificate_file, not both", who)
		case secretFile != "":
			s, err := readSecret("client_secret_file", secretFile)
			if err != nil {
				return nil, fail(values["client_secret_file"].Line, "%s: %v", who, err)
			}
			t.ClientSecret, t.ClientCertificateFile = s, ""
		case certFile != "":
			t.ClientSecret, t.ClientCertificateFile = "", certFile
		}
		if t.Enabled {
			if err := t.check("DEFENDER_TENANTS_FILE " + file); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	return out, nil
}
