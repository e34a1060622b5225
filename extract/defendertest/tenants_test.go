package defendertest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestTenantsServeEachTenantItsOwnFleet: one server, the tenant chosen by
// the token endpoint's path; a token lists its own tenant's agents only.
func TestTenantsServeEachTenantItsOwnFleet(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := NewTenantsServer(FleetTenants(3, 20, 1, start, start.Add(24*time.Hour))...)
	defer srv.Close()

	tokenFor := func(tenant string) (int, string) {
		resp, err := http.PostForm(srv.URL+TokenPath(tenant), secretForm(DefaultClientSecret))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.AccessToken
	}
	list := func(token string) (int, []string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+ListPath, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&page)
		ids := make([]string, len(page.Value))
		for i, a := range page.Value {
			ids[i] = a.ID
		}
		return resp.StatusCode, ids
	}

	seen := map[string]string{}
	for i := range 3 {
		code, tok := tokenFor(TenantIDOf(i))
		if code != http.StatusOK || tok == "" {
			t.Fatalf("token of tenant %d: status %d", i, code)
		}
		code, ids := list(tok)
		if code != http.StatusOK || len(ids) == 0 {
			t.Fatalf("listing of tenant %d: status %d, %d agents", i, code, len(ids))
		}
		for _, id := range ids {
			if other, dup := seen[id]; dup {
				t.Fatalf("agent %s listed by tenants %s and %s: fleets must be distinct", id, other, TenantIDOf(i))
			}
			seen[id] = TenantIDOf(i)
		}
		if n := srv.Tenants.Tenants()[i].Stats().APIRequests; n != 1 {
			t.Errorf("tenant %d counted %d API requests, want its own 1", i, n)
		}
	}
	if code, _ := tokenFor("unknown.onmicrosoft.com"); code != http.StatusBadRequest {
		t.Errorf("token of an unknown tenant: status %d, want Entra's 400", code)
	}
	if code, _ := list("not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("listing with an unknown token: status %d, want 401", code)
	}
	if got := srv.TokenURL(); got != srv.URL+"/{tenant}/oauth2/v2.0/token" {
		t.Errorf("TokenURL = %s", got)
	}
}
