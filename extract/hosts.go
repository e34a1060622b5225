package extract

import (
	"errors"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// cloud is one Microsoft cloud's token authority and Defender API host.
type cloud struct {
	authority string
	api       string
	// regional is true for the one cloud with regional API hosts.
	regional bool
}

// clouds follows the vendor's host table (reference/defender-api.md).
var clouds = map[string]cloud{
	"commercial": {authority: "https://login.microsoftonline.com", api: "https://api.security.microsoft.com", regional: true},
	"gcc":        {authority: "https://login.microsoftonline.com", api: "https://api-gcc.securitycenter.microsoft.us"},
	"gcc-high":   {authority: "https://login.microsoftonline.us", api: "https://api-gov.securitycenter.microsoft.us"},
	"dod":        {authority: "https://login.microsoftonline.us", api: "https://api-gov.securitycenter.microsoft.us"},
}

var cloudNames = []string{"commercial", "gcc", "gcc-high", "dod"}

// regions are the regional hosts of the commercial cloud,
// https://{region}.api.security.microsoft.com.
var regions = []string{"us", "eu", "uk", "au", "swa", "ina"}

// Paths of the API family, under the API base URL.
const (
	// listPath lists every authenticated scan agent.
	listPath = "/api/DeviceAuthenticatedScanAgents"
	// definitionsPath lists every scan definition.
	definitionsPath = "/api/DeviceAuthenticatedScanDefinitions"
	// historyByDefinitionPath is the action reading the sessions of
	// definitions (POST {"ScanDefinitionIds": [...]}).
	historyByDefinitionPath = definitionsPath + "/GetScanHistoryByScanDefinitionId"
	// historyBySessionPath is the action reading sessions with their
	// targets (POST {"SessionIds": [...]}).
	historyBySessionPath = definitionsPath + "/GetScanHistoryBySessionId"
)

// endpoints are the resolved URLs of one tenant.
type endpoints struct {
	// list is the first page of the agent listing.
	list *url.URL
	// definitions, historyByDefinition and historyBySession are the
	// endpoints of scan definitions and history.
	definitions, historyByDefinition, historyBySession *url.URL
	// token is the OAuth token endpoint.
	token *url.URL
}

// resolveEndpoints applies the host rules: the cloud gives the authority and
// the API host, a region picks a nearer API host, and explicit URLs override
// both.
func resolveEndpoints(c Config) (endpoints, error) {
	cl, ok := clouds[c.Cloud]
	if !ok {
		return endpoints{}, configError("cloud %q: want one of %s", c.Cloud, strings.Join(cloudNames, ", "))
	}
	api := cl.api
	if c.Region != "" {
		if !slices.Contains(regions, c.Region) {
			return endpoints{}, configError("region %q: want one of %s", c.Region, strings.Join(regions, ", "))
		}
		if !cl.regional {
			return endpoints{}, configError("region %q: regional hosts exist only in the commercial cloud, not %s", c.Region, c.Cloud)
		}
		api = "https://" + c.Region + ".api.security.microsoft.com"
	}
	if c.APIURL != "" {
		api = c.APIURL
	}
	apiURL, err := checkURL("API URL", api)
	if err != nil {
		return endpoints{}, err
	}
	at := func(path string) *url.URL {
		u := *apiURL
		u.Path += path
		return &u
	}

	token := c.TokenURL
	if token == "" {
		token = cl.authority + "/" + url.PathEscape(c.TenantID) + "/oauth2/v2.0/token"
	}
	tokenURL, err := checkURL("token URL", token)
	if err != nil {
		return endpoints{}, err
	}
	return endpoints{
		list:                at(listPath),
		definitions:         at(definitionsPath),
		historyByDefinition: at(historyByDefinitionPath),
		historyBySession:    at(historyBySessionPath),
		token:               tokenURL,
	}, nil
}

// checkURL accepts an absolute https URL without credentials, query or
// fragment, or an http one on a loopback host, which is only ever a
// simulated tenant: a token must never travel in clear over a network.
func checkURL(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, which might hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if strings.Contains(err.Error(), `"`) {
			// The parser quotes part of the URL ("invalid port \":pw\""),
			// which may be part of a password.
			return nil, configError("%s: cannot parse it as a URL (the value is not shown: it may hold a secret)", what)
		}
		return nil, configError("%s: %v", what, err)
	}
	// The URL as an error quotes it, made only for an error.
	shown := func() string { return shownURL(raw, u) }
	switch {
	case u.User != nil:
		return nil, configError("%s: must not carry credentials", what)
	case !u.IsAbs() || u.Host == "":
		return nil, configError("%s %q: want an absolute https URL", what, shown())
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, configError("%s %q: must not have a query or fragment", what, shown())
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, configError("%s %q: plain http is allowed only for loopback hosts", what, shown())
		}
	default:
		return nil, configError("%s %q: want an https URL", what, shown())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// shownURL is raw as an error may quote it: what precedes an @ may be a
// password, and a query value or a fragment a signature or a token, so
// those show as "…" (the query's parameter names stay, to tell what was
// there).
func shownURL(raw string, u *url.URL) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
		if u.RawQuery != "" {
			names := slices.Sorted(maps.Keys(u.Query()))
			for i, name := range names {
				names[i] = name + "=…"
			}
			raw += "?" + strings.Join(names, "&")
		}
		if u.Fragment != "" {
			raw += "#…"
		}
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		raw = "…" + raw[i:]
	}
	return safetext.Cut(raw, nameBytes)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validTenantID accepts a GUID or a domain name: letters, digits, dots and
// hyphens. Anything else could not be a tenant and could alter the token
// URL's path.
func validTenantID(s string) bool {
	if len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
		default:
			return false
		}
	}
	return true
}
