package extract

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/agentsync/agentsync/internal/safetext"
)

// tokenEarlyExpiry is how long before its expiry a token is replaced, so
// that a token never expires between the check and a slow page.
const tokenEarlyExpiry = 5 * time.Minute

// assertionLifetime is how long a client assertion is valid; each token
// request signs a fresh one.
const assertionLifetime = 10 * time.Minute

// jwtBearer is the client_assertion_type of a JWT client assertion.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// entraSource fetches a new token from Microsoft Entra ID on every call,
// with the client credentials grant; tokenCache reuses its tokens.
type entraSource struct {
	// ctx is long-lived and carries the HTTP client for token requests: a
	// token source keeps the context it was built with, so a request's
	// context, cancelled at the request's end, would break every later
	// refresh.
	ctx      context.Context
	clientID string
	secret   string
	cert     *clientCertificate // nil with a secret
	tokenURL string
	scope    string
	obs      Observer
	now      func() time.Time
	// issued remembers every token this source fetched.
	issued *issuedTokens
}

// Token implements oauth2.TokenSource. With a certificate it builds a
// clientcredentials.Config for each fetch, since the assertion in its
// endpoint parameters must be fresh each time.
func (s *entraSource) Token() (*oauth2.Token, error) {
	conf := &clientcredentials.Config{
		ClientID:     s.clientID,
		ClientSecret: s.secret,
		TokenURL:     s.tokenURL,
		Scopes:       []string{s.scope},
		// Entra takes the credentials in the form; stating it spares the
		// library's probing, which would send the secret twice on failure.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	var assertion string
	if s.cert != nil {
		var err error
		assertion, err = s.cert.assertion(s.clientID, s.tokenURL, s.now())
		if err != nil {
			err = fmt.Errorf("sign client assertion: %w", err)
			s.obs.TokenFetch(err)
			return nil, err
		}
		conf.EndpointParams = url.Values{
			"client_assertion_type": {jwtBearer},
			"client_assertion":      {assertion},
		}
	}
	tok, err := conf.Token(s.ctx)
	if err != nil {
		err = entraError(err, append(s.issued.list(), s.secret, assertion)...)
	} else {
		s.issued.add(tok.AccessToken, tok.Expiry, s.now())
	}
	s.obs.TokenFetch(err)
	return tok, err
}

// issuedTokenRetention is how long after its expiry an issued token is
// still redacted: an expired token grants nothing, and the list of a
// daemon running for months stays a day's tokens long.
const issuedTokenRetention = 24 * time.Hour

// issuedTokens are the access tokens Entra issued to one client, whatever
// their shape (Entra's are JWTs, which safetext recognizes; a proxy's or a
// sovereign cloud's may be opaque): every text quoted from a response is
// cut with them, so that a body quoting an earlier token shows none.
type issuedTokens struct {
	mu     sync.Mutex
	tokens []issuedToken
}

type issuedToken struct {
	value  string
	expiry time.Time // zero when Entra gave no lifetime
}

// add remembers a token, and forgets those expired longer ago than
// issuedTokenRetention.
func (t *issuedTokens) add(value string, expiry, now time.Time) {
	if value == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.tokens[:0]
	for _, tok := range t.tokens {
		if tok.value != value && (tok.expiry.IsZero() || now.Sub(tok.expiry) < issuedTokenRetention) {
			kept = append(kept, tok)
		}
	}
	// A token without a lifetime is kept as long as the last few.
	if n := len(kept); n > 64 {
		kept = append(kept[:0], kept[n-64:]...)
	}
	t.tokens = append(kept, issuedToken{value: value, expiry: expiry})
}

// list returns the tokens to redact.
func (t *issuedTokens) list() []string {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.tokens))
	for i, tok := range t.tokens {
		out[i] = tok.value
	}
	return out
}

// tokenCache hands out the current token until shortly before it expires.
type tokenCache struct {
	base oauth2.TokenSource

	mu     sync.Mutex
	reused oauth2.TokenSource
}

func newTokenCache(base oauth2.TokenSource) *tokenCache {
	return &tokenCache{base: base, reused: oauth2.ReuseTokenSourceWithExpiry(nil, base, tokenEarlyExpiry)}
}

// token returns a valid token, fetching one if needed. It gives up when ctx
// ends; the fetch itself carries on under the source's own context and
// timeout, and its token is kept for the next caller.
func (t *tokenCache) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	src := t.reused
	t.mu.Unlock()
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// invalidate drops the cached token after the API refused it, so that the
// next call fetches a new one.
func (t *tokenCache) invalidate() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reused = oauth2.ReuseTokenSourceWithExpiry(nil, t.base, tokenEarlyExpiry)
}

// entraBody is the JSON body of an Entra token error.
type entraBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
}

var aadstsPrefix = regexp.MustCompile(`^AADSTS(\d+):\s*`)

// entraError turns a failed token request into an *AuthError when Entra
// answered, every text it keeps made safe by safetext.Cut with the secret
// and the assertion. When Entra could not be reached the error is a
// *retryable; any other comes back made safe the same way.
func entraError(err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var ue *url.Error
		if errors.As(err, &ue) && errors.Is(err, ErrRedirect) {
			// Final, and without the URL: url.Error quotes it whole.
			return fmt.Errorf("token request: %w", ue.Err)
		}
		clean := errors.New("token request: " + safetext.Cut(err.Error(), messageBytes, secrets...))
		switch {
		case errors.As(err, &ue) && ue.Timeout():
			return &retryable{reason: "timeout", err: clean}
		case errors.As(err, &ue):
			return &retryable{reason: "network", err: clean}
		}
		return clean
	}
	ae := &AuthError{OAuthError: safetext.Cut(re.ErrorCode, nameBytes, secrets...)}
	if re.Response != nil {
		ae.StatusCode = re.Response.StatusCode
	}
	var body entraBody
	if json.Unmarshal(re.Body, &body) == nil {
		ae.OAuthError = safetext.Cut(body.Error, nameBytes, secrets...)
		ae.TraceID = safetext.Cut(body.TraceID, nameBytes, secrets...)
		ae.CorrelationID = safetext.Cut(body.CorrelationID, nameBytes, secrets...)
		if len(body.Codes) > 0 {
			ae.Code = body.Codes[0]
		}
		desc := body.Description
		if m := aadstsPrefix.FindStringSubmatch(desc); m != nil {
			if ae.Code == 0 {
				ae.Code, _ = strconv.Atoi(m[1])
			}
			desc = desc[len(m[0]):]
		}
		// Entra appends "Trace ID: ... Correlation ID: ... Timestamp: ..."
		// on further lines; the ids have fields of their own.
		desc, _, _ = strings.Cut(desc, "\n")
		ae.Description = safetext.Cut(strings.TrimRight(desc, "\r"), messageBytes, secrets...)
	} else {
		ae.Description = safetext.CutBytes(re.Body, snippetBytes, secrets...)
	}
	return ae
}

// clientCertificate is the application's certificate and private key, for
// JWT client assertions.
type clientCertificate struct {
	key *rsa.PrivateKey
	// thumbprint is the x5t#S256 header: base64url of the SHA-256 of the
	// DER certificate, which tells Entra which of the app's certificates
	// signed.
	thumbprint string
	notAfter   time.Time
}

// loadCertificate reads a PEM file holding a certificate and its RSA
// private key (PKCS #8 or PKCS #1), in any order. Errors name the file,
// never its content, and match ErrConfig.
func loadCertificate(path string) (*clientCertificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// A PEM pasted where its path belongs must not be echoed.
		return nil, configError("%v", safetext.FileError("client certificate", path, err))
	}
	path = safetext.Escape(path)
	var cert *x509.Certificate
	var key any
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if cert == nil { // the first certificate is the app's; the rest are its chain
				if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
					return nil, configError("client certificate %s: %v", path, err)
				}
			}
		case "PRIVATE KEY":
			if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
				return nil, configError("client certificate %s: private key: %v", path, err)
			}
		case "RSA PRIVATE KEY":
			if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
				return nil, configError("client certificate %s: private key: %v", path, err)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, configError("client certificate %s: the private key is encrypted; give it unencrypted", path)
		}
	}
	switch {
	case cert == nil:
		return nil, configError("client certificate %s: no CERTIFICATE block", path)
	case key == nil:
		return nil, configError("client certificate %s: no PRIVATE KEY block", path)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, configError("client certificate %s: want an RSA key (assertions are signed RS256), got %T", path, key)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rsaKey.PublicKey) {
		return nil, configError("client certificate %s: the private key does not belong to the certificate", path)
	}
	sum := sha256.Sum256(cert.Raw)
	return &clientCertificate{
		key:        rsaKey,
		thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]),
		notAfter:   cert.NotAfter,
	}, nil
}

// assertion signs a client assertion for one token request: RS256, with
// the certificate's x5t#S256, aud the token endpoint, iss and sub the
// client id, and a random jti.
func (c *clientCertificate) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		// aud as a plain string: Entra expects the token URL itself.
		"aud": tokenURL,
		"iss": clientID,
		"sub": clientID,
		"jti": hex.EncodeToString(jti[:]),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	})
	tok.Header["x5t#S256"] = c.thumbprint
	return tok.SignedString(c.key)
}
