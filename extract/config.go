package extract

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentsync/agentsync/internal/safetext"
)

// Defaults that Config.withDefaults fills in.
const (
	// DefaultScope is the OAuth scope of the Defender API in the commercial
	// cloud. The US Government clouds may need "{API base}/.default".
	DefaultScope = "https://api.securitycenter.microsoft.com/.default"
	// DefaultPageCap bounds a listing: at the API's 10,000 agents a page it
	// allows ten million agents, far beyond any tenant, yet stops a listing
	// whose nextLinks never end.
	DefaultPageCap = 1000
	// DefaultRequestTimeout bounds one API request, body included.
	DefaultRequestTimeout = 60 * time.Second
	// DefaultMaxResponseBytes bounds one response body: a full page of
	// 10,000 agents is about 5 MiB.
	DefaultMaxResponseBytes = 64 << 20
	// DefaultHistoryPageSize is the $top of the history by definition,
	// within what every revision of the documentation allows (older ones
	// say 4,096, the newest 10,000). No time filter is documented: each
	// batch of definitions is read newest first until the lookback, so a
	// page much larger than a sync's new sessions (25 definitions run
	// about 150 sessions a day) would mostly carry old ones.
	DefaultHistoryPageSize = 1000
	// DefaultHistoryBatchSize is how many definition or session ids one
	// history request names. No limit is documented; a session lists up
	// to 1,500 targets, so 25 sessions make a body of a few MiB at most.
	DefaultHistoryBatchSize = 25
)

// Config says which tenant to read, as whom and where. The zero value of
// every optional field means its default.
type Config struct {
	// TenantID is the Microsoft Entra tenant, a GUID or a domain. Required.
	TenantID string
	// ClientID is the application (client) id. Required.
	ClientID string
	// ClientSecret authenticates the application. Exactly one of
	// ClientSecret and CertificateFile is required.
	ClientSecret string
	// CertificateFile is a PEM file holding the application's certificate
	// and its RSA private key; tokens are then requested with a JWT client
	// assertion signed with that key.
	CertificateFile string

	// Cloud is "commercial" (default), "gcc", "gcc-high" or "dod".
	Cloud string
	// Region is "us", "eu", "uk", "au", "swa" or "ina", for a regional API
	// host of the commercial cloud; empty for the global host.
	Region string
	// APIURL is the API base URL; it overrides Cloud and Region. Plain
	// http is allowed only for loopback hosts (a simulated tenant).
	APIURL string
	// TokenURL is the OAuth token endpoint; it overrides the cloud's
	// authority. Same rules as APIURL.
	TokenURL string
	// Scope is the OAuth scope; default DefaultScope.
	Scope string

	// PageCap is the most pages one listing may fetch; default
	// DefaultPageCap.
	PageCap int
	// RequestTimeout bounds each API request, reading the body included;
	// default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxResponseBytes bounds each response body; default
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// HistoryPageSize is the $top of the history by definition; default
	// DefaultHistoryPageSize.
	HistoryPageSize int
	// HistoryBatchSize is how many ids one history request names; default
	// DefaultHistoryBatchSize.
	HistoryBatchSize int
}

// withDefaults returns c with every unset optional field set to its default.
// It is the one place defaults live.
func (c Config) withDefaults() Config {
	c.TenantID = strings.TrimSpace(c.TenantID)
	c.ClientID = strings.TrimSpace(c.ClientID)
	c.Cloud = strings.ToLower(strings.TrimSpace(c.Cloud))
	c.Region = strings.ToLower(strings.TrimSpace(c.Region))
	c.APIURL = strings.TrimSpace(c.APIURL)
	c.TokenURL = strings.TrimSpace(c.TokenURL)
	c.Scope = strings.TrimSpace(c.Scope)
	if c.Cloud == "" {
		c.Cloud = "commercial"
	}
	if c.Scope == "" {
		c.Scope = DefaultScope
	}
	if c.PageCap == 0 {
		c.PageCap = DefaultPageCap
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.HistoryPageSize == 0 {
		c.HistoryPageSize = DefaultHistoryPageSize
	}
	if c.HistoryBatchSize == 0 {
		c.HistoryBatchSize = DefaultHistoryBatchSize
	}
	return c
}

// validate checks c, which has its defaults, and resolves its endpoints.
// Every error matches ErrConfig.
func (c Config) validate() (endpoints, error) {
	if c.TenantID == "" {
		return endpoints{}, configError("tenant id is required")
	}
	if !validTenantID(c.TenantID) {
		return endpoints{}, configError("tenant id %q: want a GUID or a domain name", c.TenantID)
	}
	if c.ClientID == "" {
		return endpoints{}, configError("client id is required")
	}
	if strings.ContainsFunc(c.ClientID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return endpoints{}, configError("client id %q contains spaces or control characters", c.ClientID)
	}
	switch {
	case c.ClientSecret == "" && c.CertificateFile == "":
		return endpoints{}, configError("a client secret or a client certificate file is required")
	case c.ClientSecret != "" && c.CertificateFile != "":
		return endpoints{}, configError("give either a client secret or a client certificate file, not both")
	}
	if c.PageCap < 0 {
		return endpoints{}, configError("page cap %d: want a positive number", c.PageCap)
	}
	if c.RequestTimeout < 0 {
		return endpoints{}, configError("request timeout %s: want a positive duration", c.RequestTimeout)
	}
	if c.MaxResponseBytes < 0 {
		return endpoints{}, configError("max response bytes %d: want a positive number", c.MaxResponseBytes)
	}
	if c.HistoryPageSize < 0 {
		return endpoints{}, configError("history page size %d: want a positive number", c.HistoryPageSize)
	}
	if c.HistoryBatchSize < 0 {
		return endpoints{}, configError("history batch size %d: want a positive number", c.HistoryBatchSize)
	}
	return resolveEndpoints(c)
}

// String describes c without its secret, so that printing a Config by
// mistake leaks nothing.
func (c Config) String() string {
	secret := ""
	if c.ClientSecret != "" {
		secret = safetext.Redacted
	}
	return fmt.Sprintf("{TenantID:%s ClientID:%s ClientSecret:%s CertificateFile:%s Cloud:%s Region:%s APIURL:%s TokenURL:%s Scope:%s PageCap:%d RequestTimeout:%s MaxResponseBytes:%d HistoryPageSize:%d HistoryBatchSize:%d}",
		c.TenantID, c.ClientID, secret, c.CertificateFile, c.Cloud, c.Region, c.APIURL, c.TokenURL, c.Scope, c.PageCap, c.RequestTimeout, c.MaxResponseBytes, c.HistoryPageSize, c.HistoryBatchSize)
}

// GoString keeps %#v from printing the secret too.
func (c Config) GoString() string { return "extract.Config" + c.String() }

// LogValue keeps slog from logging the secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
