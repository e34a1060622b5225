package defendertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Tenants serves several simulated tenants from one address, as Microsoft
// Entra ID and Defender do: the token endpoint's path names the tenant,
// and an access token opens its own tenant's API only.
type Tenants struct {
	mu       sync.Mutex
	byID     map[string]*Tenant
	handlers map[*Tenant]http.Handler
	byToken  map[string]*Tenant
	order    []*Tenant
}

// NewTenants serves ts, which must have distinct tenant ids (see
// WithTenantID).
func NewTenants(ts ...*Tenant) *Tenants {
	m := &Tenants{byID: map[string]*Tenant{}, handlers: map[*Tenant]http.Handler{}, byToken: map[string]*Tenant{}}
	for _, t := range ts {
		t.mu.Lock()
		id := strings.ToLower(t.tenantID)
		t.onIssue = func(token string) {
			m.mu.Lock()
			m.byToken[token] = t
			m.mu.Unlock()
		}
		t.mu.Unlock()
		if _, dup := m.byID[id]; dup {
			panic(fmt.Sprintf("defendertest: tenant %s twice", id))
		}
		m.byID[id] = t
		m.handlers[t] = t.Handler()
		m.order = append(m.order, t)
	}
	return m
}

// Tenants returns the tenants served, in the order given.
func (m *Tenants) Tenants() []*Tenant { return m.order }

// Lookup returns the tenant whose token r carries, or nil.
func (m *Tenants) Lookup(r *http.Request) *Tenant {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byToken[token]
}

// Handler routes a token request to the tenant its path names, and an API
// request to the tenant that issued its bearer token; an unknown tenant
// gets Entra's error, an unknown token Defender's 401.
func (m *Tenants) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := tokenPathTenant(r.URL.Path); ok {
			m.mu.Lock()
			t := m.byID[strings.ToLower(id)]
			m.mu.Unlock()
			if t == nil {
				writeEntraError(w, http.StatusBadRequest, "invalid_request", 90002,
					fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", id))
				return
			}
			m.handlers[t].ServeHTTP(w, r)
			return
		}
		t := m.Lookup(r)
		if t == nil {
			writeAPIError(w, http.StatusUnauthorized, "Unauthorized", "Authorization token is missing or invalid.")
			return
		}
		m.handlers[t].ServeHTTP(w, r)
	})
}

// tokenPathTenant reads the tenant of a token endpoint path,
// /{tenant}/oauth2/v2.0/token.
func tokenPathTenant(path string) (string, bool) {
	rest, ok := strings.CutSuffix(path, "/oauth2/v2.0/token")
	if !ok || !strings.HasPrefix(rest, "/") || strings.Count(rest, "/") != 1 {
		return "", false
	}
	return rest[1:], true
}

// TenantsServer is Tenants served over HTTP on a loopback address.
type TenantsServer struct {
	*Tenants
	// URL is the server's base URL, the API URL of every tenant.
	URL string
	srv *httptest.Server
}

// NewTenantsServer starts serving ts. Close it when done.
func NewTenantsServer(ts ...*Tenant) *TenantsServer {
	m := NewTenants(ts...)
	srv := httptest.NewServer(m.Handler())
	return &TenantsServer{Tenants: m, URL: srv.URL, srv: srv}
}

// TokenURL is the token endpoint with the placeholder {tenant} for the
// tenant's id, as DEFENDER_TOKEN_URL takes it.
func (s *TenantsServer) TokenURL() string { return s.URL + TokenPath("{tenant}") }

// Close shuts the server down, waiting for requests in flight.
func (s *TenantsServer) Close() { s.srv.Close() }

// FleetTenants returns n simulated tenants with distinct ids and fleets of
// agents agents each (seeds seed, seed+1, ...), listed as they are at
// simulated time at; every tenant accepts the default application and
// secret, as one multi-tenant application consented in each.
func FleetTenants(n, agents int, seed int64, start, at time.Time, opts ...Option) []*Tenant {
	out := make([]*Tenant, n)
	for i := range out {
		fleet := NewFleet(seed+int64(i), agents, start)
		out[i] = New(append([]Option{WithTenantID(TenantIDOf(i)), WithFleet(fleet, at)}, opts...)...)
	}
	return out
}

// TenantIDOf is the id of the i-th tenant of FleetTenants: a GUID, like
// Entra's, the same for every run.
func TenantIDOf(i int) string {
	return fmt.Sprintf("7e5a%04x-0d1b-4c7e-9a3f-%012x", i, 0x2d6b8e1c0f57+i)
}

// TenantID is the id the tenant answers for.
func (t *Tenant) TenantID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tenantID
}
