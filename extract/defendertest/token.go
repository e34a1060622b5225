package defendertest

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// serveToken answers POST /{tenant}/oauth2/v2.0/token like Microsoft Entra
// ID does for the client credentials grant, with a secret or a JWT client
// assertion, and with Entra's errors.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.stats.TokenRequests++
	fault := t.takeFault(true, "", 0)
	tenantID, clientID, secret, cert, thumb, lifetime := t.tenantID, t.clientID, t.secret, t.cert, t.certThumb, t.tokenLifetime
	t.mu.Unlock()

	if fault != nil && fault.kind == faultRaw {
		writeJSON(w, fault.status, fault.body)
		return
	}
	if fault != nil {
		writeEntraError(w, fault.status, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	form := r.PostForm
	tenant := r.PathValue("tenant")
	if !strings.EqualFold(tenant, tenantID) {
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 90002,
			fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
		return
	}
	if form.Get("grant_type") != "client_credentials" {
		writeEntraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	}
	if form.Get("client_id") != clientID {
		writeEntraError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", form.Get("client_id"), tenant))
		return
	}
	if !strings.HasSuffix(form.Get("scope"), "/.default") {
		writeEntraError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.Get("scope")))
		return
	}
	switch {
	case form.Has("client_secret"):
		if secret == "" || subtle.ConstantTimeCompare([]byte(form.Get("client_secret")), []byte(secret)) != 1 {
			writeEntraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
				fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
			return
		}
	case form.Has("client_assertion"):
		assertion := form.Get("client_assertion")
		t.mu.Lock()
		t.assertions = append(t.assertions, assertion)
		t.mu.Unlock()
		if form.Get("client_assertion_type") != jwtBearer {
			writeEntraError(w, http.StatusBadRequest, "invalid_request", 90014, "The required field 'client_assertion_type' is missing or invalid.")
			return
		}
		audience := baseURL(r) + r.URL.Path
		if status, code, msg := checkAssertion(assertion, cert, thumb, clientID, audience); code != 0 {
			writeEntraError(w, status, "invalid_client", code, msg)
			return
		}
	default:
		writeEntraError(w, http.StatusBadRequest, "invalid_request", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}

	token := newToken()
	t.mu.Lock()
	t.tokens[token] = time.Now().Add(lifetime)
	t.issued = append(t.issued, token)
	onIssue := t.onIssue
	t.mu.Unlock()
	if onIssue != nil {
		onIssue(token)
	}
	secs := int(lifetime / time.Second)
	body, _ := json.Marshal(map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token,
	})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

// checkAssertion verifies a client assertion as Entra does: RS256 signed
// by the registered certificate named in x5t#S256, aud the token
// endpoint, iss and sub the client id, within its validity. It returns
// AADSTS code 0 when the assertion is good.
func checkAssertion(assertion string, cert *x509.Certificate, thumb, clientID, audience string) (status, code int, msg string) {
	if cert == nil {
		return http.StatusUnauthorized, 700027, "Client assertion failed signature validation. No certificate is registered for the application."
	}
	parsed, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(audience),
		jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID),
		jwt.WithLeeway(time.Minute),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		return http.StatusUnauthorized, 700024, "Client assertion is not within its valid time range."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return http.StatusUnauthorized, 50012, fmt.Sprintf("Client assertion audience claim does not match Realm issuer. Expected %s.", audience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenInvalidSubject):
		return http.StatusUnauthorized, 700021, "Client assertion application identifier doesn't match 'client_id' parameter."
	case err != nil:
		return http.StatusUnauthorized, 700027, "Client assertion failed signature validation."
	}
	if x5t, _ := parsed.Header["x5t#S256"].(string); x5t != thumb {
		return http.StatusUnauthorized, 700027, "Client assertion failed signature validation. The x5t#S256 header names no certificate registered for the application."
	}
	return 0, 0, ""
}

// writeEntraError answers with Entra's error body. The description, like
// Entra's, starts with the AADSTS code and ends with lines naming the
// trace and correlation ids.
func writeEntraError(w http.ResponseWriter, status int, oauthErr string, code int, description string) {
	trace, correlation := newID(), newID()
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	body, _ := json.Marshal(map[string]any{
		"error": oauthErr,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			code, description, trace, correlation, now),
		"error_codes":    []int{code},
		"timestamp":      now,
		"trace_id":       trace,
		"correlation_id": correlation,
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	})
	writeJSON(w, status, body)
}

// newID returns a random GUID-shaped id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newToken returns a random opaque access token.
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "sim." + hex.EncodeToString(b[:])
}
