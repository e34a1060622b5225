package defendertest

import (
	"net/http"
	"net/http/httptest"
)

// Server is a Tenant served over HTTP on a loopback address, for tests.
type Server struct {
	*Tenant
	// URL is the server's base URL, the API URL of the tenant.
	URL string
	srv *httptest.Server
}

// NewServer starts serving a new Tenant. Close it when done.
func NewServer(opts ...Option) *Server {
	t := New(opts...)
	srv := httptest.NewServer(t.Handler())
	return &Server{Tenant: t, URL: srv.URL, srv: srv}
}

// TokenURL is the tenant's token endpoint.
func (s *Server) TokenURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.URL + TokenPath(s.tenantID)
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close shuts the server down, waiting for requests in flight.
func (s *Server) Close() { s.srv.Close() }
