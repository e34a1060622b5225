package defendertest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// token asks srv for a token with form and returns the status and body.
func token(t *testing.T, srv *Server, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+TokenPath(tenant), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func secretForm(secret string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID},
		"client_secret": {secret}, "scope": {"https://api.securitycenter.microsoft.com/.default"}}
}

func TestTokenEndpointAnswersLikeEntra(t *testing.T) {
	t.Parallel()
	srv := NewServer()
	t.Cleanup(srv.Close)
	status, body := token(t, srv, DefaultTenantID, secretForm(DefaultClientSecret))
	if status != 200 || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["access_token"] == "" {
		t.Fatalf("token: %d %v", status, body)
	}
	noScope := secretForm(DefaultClientSecret)
	noScope.Set("scope", "https://api.securitycenter.microsoft.com/Machine.Read.All")
	noCredential := secretForm("")
	noCredential.Del("client_secret")
	otherApp := secretForm(DefaultClientSecret)
	otherApp.Set("client_id", "someone-else")
	for _, tc := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   float64
	}{
		{"bad secret", DefaultTenantID, secretForm("nope"), 401, 7000215},
		{"unknown app", DefaultTenantID, otherApp, 400, 700016},
		{"unknown tenant", "contoso.example", secretForm(DefaultClientSecret), 400, 90002},
		{"scope without /.default", DefaultTenantID, noScope, 400, 1002012},
		{"no credential", DefaultTenantID, noCredential, 400, 7000218},
	} {
		status, body := token(t, srv, tc.tenant, tc.form)
		codes, _ := body["error_codes"].([]any)
		desc, _ := body["error_description"].(string)
		if status != tc.status || len(codes) != 1 || codes[0] != tc.code || body["trace_id"] == "" || body["correlation_id"] == "" ||
			!strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(tc.code))) || !strings.Contains(desc, "\r\nTrace ID: ") {
			t.Errorf("%s: %d %v; want %d with AADSTS%d", tc.name, status, body, tc.status, int(tc.code))
		}
		if strings.Contains(fmt.Sprint(body), DefaultClientSecret) {
			t.Errorf("%s: the error echoes the secret", tc.name)
		}
	}
	if s := srv.Stats(); s.TokenRequests != 6 || s.Paths[TokenPath(DefaultTenantID)] != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestTokenEndpointChecksAssertions(t *testing.T) {
	t.Parallel()
	cert, pemFile, err := NewCertificate("app")
	if err != nil {
		t.Fatal(err)
	}
	_ = pemFile
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, pemFile)
	srv := NewServer(WithCertificate(cert), WithClientSecret(""))
	t.Cleanup(srv.Close)
	aud := srv.TokenURL()
	sum := sha256.Sum256(cert.Raw)
	thumb := base64.RawURLEncoding.EncodeToString(sum[:])
	now := time.Now()
	sign := func(k *rsa.PrivateKey, x5t string, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		if x5t != "" {
			tok.Header["x5t#S256"] = x5t
		}
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := jwt.MapClaims{"aud": aud, "iss": DefaultClientID, "sub": DefaultClientID, "jti": "1", "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	for _, tc := range []struct {
		name      string
		assertion string
		code      float64 // 0 for success
	}{
		{"good", sign(key, thumb, good), 0},
		{"wrong key", sign(otherKey, thumb, good), 700027},
		{"no x5t#S256", sign(key, "", good), 700027},
		{"other thumbprint", sign(key, "AAAA", good), 700027},
		{"expired", sign(key, thumb, with("exp", now.Add(-time.Hour).Unix())), 700024},
		{"wrong audience", sign(key, thumb, with("aud", "https://login.microsoftonline.com/x/oauth2/v2.0/token")), 50012},
		{"wrong issuer", sign(key, thumb, with("iss", "someone")), 700021},
		{"not a JWT", "garbage", 700027},
	} {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "scope": {"x/.default"},
			"client_assertion_type": {jwtBearer}, "client_assertion": {tc.assertion}}
		status, body := token(t, srv, DefaultTenantID, form)
		codes, _ := body["error_codes"].([]any)
		switch {
		case tc.code == 0 && status != 200:
			t.Errorf("%s: %d %v, want a token", tc.name, status, body)
		case tc.code != 0 && (status != 401 || len(codes) != 1 || codes[0] != tc.code):
			t.Errorf("%s: %d %v, want AADSTS%d", tc.name, status, body, int(tc.code))
		}
	}
	if got := len(srv.Assertions()); got != 8 {
		t.Errorf("%d assertions recorded, want 8", got)
	}
}

func mustKey(t *testing.T, pemFile []byte) *rsa.PrivateKey {
	t.Helper()
	_, keyPEM, _ := strings.Cut(string(pemFile), "-----END CERTIFICATE-----\n")
	k, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// get lists one page with a fresh token.
func get(t *testing.T, srv *Server, path string) (*http.Response, []byte) {
	t.Helper()
	_, tok := token(t, srv, DefaultTenantID, secretForm(DefaultClientSecret))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestListingPagesAndRefusesBadRequests(t *testing.T) {
	t.Parallel()
	agents := []Agent{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	srv := NewServer(WithAgents(agents), WithPageSize(2))
	t.Cleanup(srv.Close)
	resp, body := get(t, srv, ListPath)
	var page struct {
		Value []map[string]any `json:"value"`
		Next  string           `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil || resp.StatusCode != 200 || len(page.Value) != 2 || !strings.HasPrefix(page.Next, srv.URL+ListPath+"?$skiptoken=") {
		t.Fatalf("page 1: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv, strings.TrimPrefix(page.Next, srv.URL))
	page.Next = ""
	if err := json.Unmarshal(body, &page); err != nil || len(page.Value) != 1 || page.Value[0]["id"] != "c" || page.Next != "" {
		t.Fatalf("page 2: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, srv, ListPath+"?$skiptoken=bogus"); resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidInput") {
		t.Errorf("bad skiptoken: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(t, srv, ListPath+"/b"); resp.StatusCode != 200 || !strings.Contains(string(body), `"value":[{"id":"b"`) {
		t.Errorf("one agent: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv, ListPath+"/zz"); resp.StatusCode != 404 {
		t.Errorf("unknown agent: %d", resp.StatusCode)
	}
	noAuth, err := http.Get(srv.URL + ListPath)
	if err != nil {
		t.Fatal(err)
	}
	noAuth.Body.Close()
	if noAuth.StatusCode != 401 {
		t.Errorf("no token: %d", noAuth.StatusCode)
	}
	if s := srv.Stats(); s.APIRequests != 6 || s.Paths[ListPath] != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestTenantChangesWhileServing(t *testing.T) {
	t.Parallel()
	fleet := NewFleet(5, 300, start)
	srv := NewServer(WithFleet(fleet, start), WithPageSize(50))
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if resp, _ := get(t, srv, ListPath); resp.StatusCode != 200 && resp.StatusCode != 503 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	for i := range 20 {
		srv.Advance(time.Hour)
		srv.SetCasing(Casing(i % 5))
		srv.Inject(ServerError(503))
		srv.SetPageSize(10 + i)
	}
	wg.Wait()
	if got, want := srv.Now(), start.Add(20*time.Hour); !got.Equal(want) {
		t.Errorf("simulated time %v, want %v", got, want)
	}
	srv.SetAgents(nil)
	if resp, body := get(t, srv, ListPath); resp.StatusCode != 200 && resp.StatusCode != 503 || resp.StatusCode == 200 && !strings.Contains(string(body), `"value":[]`) {
		t.Errorf("empty tenant: %d %s", resp.StatusCode, body)
	}
}

func TestRenderPageFormatsTimestampsLikeDotNet(t *testing.T) {
	t.Parallel()
	at := time.Date(2022, 12, 19, 20, 29, 4, 824244900, time.UTC)
	body := string(RenderPage("https://x", []Agent{
		{ID: "a", LastSeen: at, LastCommandExecution: time.Time{}},
		{ID: "b", LastSeen: at.Truncate(time.Second).Add(200 * time.Millisecond)},
	}, CasingVendor, ""))
	for _, want := range []string{`"lastSeen":"2022-12-19T20:29:04.8242449Z"`, `"LastCommandExecutionTimestamp":"0001-01-01T00:00:00Z"`,
		`"lastSeen":"2022-12-19T20:29:04.2Z"`, `"machineId":null`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
}
