package defendertest

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Credentials the simulated tenant accepts unless options say otherwise.
const (
	DefaultTenantID     = "8f0c2a4e-5b1d-4c7e-9a3f-2d6b8e1c0f57"
	DefaultClientID     = "3b9d6f1a-7c2e-4e8b-a5d4-9f0e1c2b3a46"
	DefaultClientSecret = "sim~client~secret~0123456789abcdef"
)

// DefaultPageSize is the page size of the Defender API's sibling
// endpoints.
const DefaultPageSize = 10000

// ListPath is the path of the scan agents listing.
const ListPath = "/api/DeviceAuthenticatedScanAgents"

// Tenant is the simulated tenant's state and HTTP handler. It is safe for
// concurrent use; every setter takes effect on the next request.
type Tenant struct {
	mu            sync.Mutex
	tenantID      string
	clientID      string
	secret        string
	certThumb     string // x5t#S256 of the accepted certificate; "" for none
	cert          *x509.Certificate
	pageSize      int
	casing        Casing
	tokenLifetime time.Duration

	agents  []Agent // explicit agents, when fleet is nil
	fleet   *Fleet
	fleetAt time.Time
	listed  []Agent // the agents as listed now; nil when to be recomputed

	// Explicit scan definitions and sessions, when scansSet; else the
	// fleet's (none without a fleet).
	definitions []Definition
	sessions    []Session
	scansSet    bool
	listedDefs  []Definition // the definitions as listed now; nil when to be recomputed
	// noSessionIDs makes the history by definition send no session ids,
	// exactly as the vendor's example; oldestFirst lists it oldest first.
	noSessionIDs bool
	oldestFirst  bool

	faults     []*Fault
	tokens     map[string]time.Time // access token -> expiry
	onIssue    func(token string)   // told each token issued, by a Tenants server
	issued     []string
	assertions []string
	stats      Stats
}

// Stats counts the requests a tenant has seen.
type Stats struct {
	// TokenRequests counts requests to the token endpoint.
	TokenRequests int
	// APIRequests counts requests to the scan agents API.
	APIRequests int
	// Paths counts every request by URL path.
	Paths map[string]int
}

// Option configures a Tenant.
type Option func(*Tenant)

// WithTenantID sets the tenant id the token endpoint answers for.
func WithTenantID(id string) Option { return func(t *Tenant) { t.tenantID = id } }

// WithClientID sets the one application the tenant knows.
func WithClientID(id string) Option { return func(t *Tenant) { t.clientID = id } }

// WithClientSecret sets the application's secret; "" accepts no secret.
func WithClientSecret(s string) Option { return func(t *Tenant) { t.secret = s } }

// WithCertificate registers a certificate for the application, so that
// client assertions signed with its key are accepted.
func WithCertificate(cert *x509.Certificate) Option {
	return func(t *Tenant) { t.setCertificate(cert) }
}

// WithPageSize sets how many agents a page holds.
func WithPageSize(n int) Option { return func(t *Tenant) { t.pageSize = max(1, n) } }

// WithCasing sets how the agents' keys are spelled.
func WithCasing(c Casing) Option { return func(t *Tenant) { t.casing = c } }

// WithAgents sets an explicit list of agents.
func WithAgents(agents []Agent) Option {
	return func(t *Tenant) { t.agents, t.fleet = slices.Clone(agents), nil }
}

// WithFleet lists fleet's agents as they are at simulated time at.
func WithFleet(f *Fleet, at time.Time) Option {
	return func(t *Tenant) { t.fleet, t.fleetAt, t.agents = f, at, nil }
}

// WithScans sets explicit scan definitions and sessions, instead of the
// fleet's.
func WithScans(definitions []Definition, sessions []Session) Option {
	return func(t *Tenant) { t.setScans(definitions, sessions) }
}

// WithTokenLifetime sets the lifetime of the tokens issued (expires_in);
// default 3599 seconds, as Entra's.
func WithTokenLifetime(d time.Duration) Option { return func(t *Tenant) { t.tokenLifetime = d } }

// New returns a tenant with no agents, accepting DefaultTenantID,
// DefaultClientID and DefaultClientSecret unless opts say otherwise.
func New(opts ...Option) *Tenant {
	t := &Tenant{
		tenantID:      DefaultTenantID,
		clientID:      DefaultClientID,
		secret:        DefaultClientSecret,
		pageSize:      DefaultPageSize,
		casing:        CasingVendor,
		tokenLifetime: 3599 * time.Second,
		tokens:        make(map[string]time.Time),
		stats:         Stats{Paths: make(map[string]int)},
	}
	for _, opt := range opts {
		opt(t)
	}
	return t
}

// Handler serves the token endpoint at /{tenant}/oauth2/v2.0/token and the
// API at /api/DeviceAuthenticatedScanAgents, /api/DeviceAuthenticatedScanDefinitions
// and its two history actions.
func (t *Tenant) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", t.serveToken)
	mux.HandleFunc("GET "+ListPath, t.serveList)
	mux.HandleFunc("GET "+ListPath+"/{id}", t.serveAgent)
	mux.HandleFunc("GET "+DefinitionsPath, t.serveDefinitions)
	mux.HandleFunc("POST "+HistoryByDefinitionPath, t.serveHistoryByDefinition)
	mux.HandleFunc("POST "+HistoryBySessionPath, t.serveHistoryBySession)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		t.stats.Paths[r.URL.Path]++
		t.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

// TokenPath is the path of the token endpoint of tenant id.
func TokenPath(tenantID string) string { return "/" + tenantID + "/oauth2/v2.0/token" }

// SetAgents replaces the agents with an explicit list.
func (t *Tenant) SetAgents(agents []Agent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.agents, t.fleet, t.listed, t.listedDefs = slices.Clone(agents), nil, nil, nil
}

// SetFleet lists fleet's agents as they are at simulated time at.
func (t *Tenant) SetFleet(f *Fleet, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fleet, t.fleetAt, t.agents, t.listed, t.listedDefs = f, at, nil, nil, nil
}

// SetTime moves the fleet's simulated time to at.
func (t *Tenant) SetTime(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fleetAt, t.listed, t.listedDefs = at, nil, nil
}

// Advance moves the fleet's simulated time forward by d and returns the
// new time.
func (t *Tenant) Advance(d time.Duration) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fleetAt, t.listed, t.listedDefs = t.fleetAt.Add(d), nil, nil
	return t.fleetAt
}

// SetScans replaces the scan definitions and sessions with explicit ones.
func (t *Tenant) SetScans(definitions []Definition, sessions []Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setScans(definitions, sessions)
}

func (t *Tenant) setScans(definitions []Definition, sessions []Session) {
	t.definitions, t.sessions, t.scansSet, t.listedDefs = slices.Clone(definitions), slices.Clone(sessions), true, nil
}

// SetSessionIDs chooses whether the history by definition sends session
// ids (the service's metadata has them; the vendor's example has none).
func (t *Tenant) SetSessionIDs(send bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noSessionIDs = !send
}

// SetHistoryOldestFirst lists the history by definition oldest first
// instead of newest first.
func (t *Tenant) SetHistoryOldestFirst(oldest bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.oldestFirst = oldest
}

// Definitions returns the scan definitions as the API lists them now.
func (t *Tenant) Definitions() []Definition {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.currentDefinitions())
}

// Sessions returns the sessions of the given definitions the history holds
// now, in the order the history by definition lists them.
func (t *Tenant) Sessions(definitionIDs ...string) []Session {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessionsOf(definitionIDs)
}

// Now is the fleet's simulated time.
func (t *Tenant) Now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fleetAt
}

// Agents returns the agents as the API lists them now.
func (t *Tenant) Agents() []Agent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.currentAgents())
}

// SetCasing changes how keys are spelled.
func (t *Tenant) SetCasing(c Casing) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.casing = c
}

// SetPageSize changes how many agents a page holds.
func (t *Tenant) SetPageSize(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pageSize = max(1, n)
}

// SetClientSecret changes the accepted secret, as a secret rotation does.
func (t *Tenant) SetClientSecret(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.secret = s
}

// Inject adds faults; each applies to the requests it matches, in order,
// until used up.
func (t *Tenant) Inject(faults ...Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range faults {
		t.faults = append(t.faults, &f)
	}
}

// ClearFaults removes every fault.
func (t *Tenant) ClearFaults() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
}

// RevokeTokens invalidates every token issued, so that the API answers the
// next request with 401.
func (t *Tenant) RevokeTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.tokens)
}

// Stats returns the requests seen so far.
func (t *Tenant) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Paths = maps.Clone(t.stats.Paths)
	return s
}

// IssuedTokens returns every access token issued, for tests that check no
// token leaks into logs.
func (t *Tenant) IssuedTokens() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.issued)
}

// Assertions returns every client assertion received.
func (t *Tenant) Assertions() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.assertions)
}

func (t *Tenant) setCertificate(cert *x509.Certificate) {
	t.cert = cert
	t.certThumb = ""
	if cert != nil {
		sum := sha256.Sum256(cert.Raw)
		t.certThumb = base64.RawURLEncoding.EncodeToString(sum[:])
	}
}

// currentAgents returns the agents as listed now, computing the fleet's
// state once per change. t.mu must be held.
func (t *Tenant) currentAgents() []Agent {
	if t.fleet == nil {
		return t.agents
	}
	if t.listed == nil {
		t.listed = t.fleet.AgentsAt(t.fleetAt)
	}
	return t.listed
}

// currentDefinitions returns the definitions as listed now. t.mu must be
// held.
func (t *Tenant) currentDefinitions() []Definition {
	switch {
	case t.scansSet:
		return t.definitions
	case t.fleet == nil:
		return nil
	}
	if t.listedDefs == nil {
		t.listedDefs = t.fleet.DefinitionsAt(t.fleetAt)
	}
	return t.listedDefs
}

// sessionsOf returns the sessions of the given definitions, in the order
// the history by definition lists them. t.mu must be held.
func (t *Tenant) sessionsOf(definitionIDs []string) []Session {
	out, _ := t.sessionPage(definitionIDs, 0, 0)
	return out
}

// sessionPage returns the sessions of the given definitions from skip, at
// most top of them (all with top 0), in the order the history by
// definition lists them, and how many there are in all. t.mu must be held.
func (t *Tenant) sessionPage(definitionIDs []string, skip, top int) ([]Session, int) {
	if t.fleet != nil && !t.scansSet {
		return t.fleet.SessionsPage(t.fleetAt, definitionIDs, skip, top, t.oldestFirst)
	}
	var out []Session
	if t.scansSet {
		for _, s := range t.sessions {
			if slices.Contains(definitionIDs, s.DefinitionID) {
				out = append(out, s)
			}
		}
		slices.SortStableFunc(out, func(a, b Session) int { return b.ScannedAt.Compare(a.ScannedAt) })
	}
	if t.oldestFirst {
		slices.Reverse(out)
	}
	total := len(out)
	end := total
	if top > 0 {
		end = min(end, skip+top)
	}
	return out[min(skip, end):end], total
}

// sessionByID returns the session with the given id. t.mu must be held.
func (t *Tenant) sessionByID(id string) (Session, bool) {
	switch {
	case t.scansSet:
		for _, s := range t.sessions {
			if s.SessionID == id && id != "" {
				return s, true
			}
		}
	case t.fleet != nil:
		return t.fleet.Session(t.fleetAt, id)
	}
	return Session{}, false
}
