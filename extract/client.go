package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/agentsync/agentsync/internal/safetext"
)

// Client lists the authenticated scan agents of one tenant. Create one per
// process and reuse it: the rate budget and the token live in it. It is
// safe for concurrent use.
type Client struct {
	cfg    Config
	ep     endpoints
	http   *http.Client
	tokens *tokenCache
	budget *budget
	retry  RetryPolicy
	log    *slog.Logger
	obs    Observer
	// issued are the tokens the cache was given, to redact.
	issued *issuedTokens
}

// Option changes how New builds a Client.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	httpClient *http.Client
	observer   Observer
	rateBudget RateBudget
	retry      RetryPolicy
	clock      clock
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithHTTPClient sets the HTTP client for token and API requests, for its
// transport (proxies, TLS settings, a test server's client). Its Timeout
// is ignored in favour of Config.RequestTimeout, and its CheckRedirect in
// favour of following no redirect (ErrRedirect).
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c != nil {
			o.httpClient = c
		}
	}
}

// WithObserver sets the observer of requests, retries, token fetches and
// pages; the default is NopObserver.
func WithObserver(obs Observer) Option {
	return func(o *options) {
		if obs != nil {
			o.observer = obs
		}
	}
}

// WithRateBudget replaces DefaultRateBudget: a simulated tenant or a test
// may lift the limits; nothing talking to Defender should.
func WithRateBudget(b RateBudget) Option {
	return func(o *options) { o.rateBudget = b }
}

// WithRetryPolicy replaces the default retry policy; zero fields keep
// their defaults. Tests shrink the waits with it.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(o *options) { o.retry = p }
}

// New checks cfg and builds a Client. An error in cfg, or an unreadable
// certificate, matches ErrConfig. New makes no request.
func New(cfg Config, opts ...Option) (*Client, error) {
	o := options{
		logger:     slog.New(slog.DiscardHandler),
		httpClient: http.DefaultClient,
		observer:   NopObserver{},
		rateBudget: DefaultRateBudget,
		clock:      realClock{},
	}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	ep, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	var cert *clientCertificate
	if cfg.CertificateFile != "" {
		if cert, err = loadCertificate(cfg.CertificateFile); err != nil {
			return nil, err
		}
		if o.clock.Now().After(cert.notAfter) {
			o.logger.Warn("the client certificate has expired; Entra will refuse it", "file", cfg.CertificateFile, "not_after", cert.notAfter)
		}
	}
	// Token requests get their own client: same transport, a timeout of
	// their own, since they run under the token source's long-lived
	// context rather than a request's.
	tokenHTTP := &http.Client{Transport: o.httpClient.Transport, Timeout: cfg.RequestTimeout, CheckRedirect: refuseRedirect}
	source := &entraSource{
		ctx:      context.WithValue(context.Background(), oauth2.HTTPClient, tokenHTTP),
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		cert:     cert,
		tokenURL: ep.token.String(),
		scope:    cfg.Scope,
		obs:      o.observer,
		now:      o.clock.Now,
		issued:   &issuedTokens{},
	}
	// The API client never follows a timeout of its own: each request
	// has a context deadline instead, which tells timeouts from
	// cancellation.
	apiHTTP := *o.httpClient
	apiHTTP.Timeout = 0
	apiHTTP.CheckRedirect = refuseRedirect
	return &Client{
		cfg:    cfg,
		ep:     ep,
		http:   &apiHTTP,
		tokens: newTokenCache(source),
		budget: newBudget(o.rateBudget, o.clock),
		retry:  o.retry.withDefaults(),
		log:    o.logger,
		obs:    o.observer,
		issued: source.issued,
	}, nil
}

// errRequestTimeout is the cause of a request's context when
// Config.RequestTimeout ran out, as opposed to the caller cancelling.
var errRequestTimeout = errors.New("request timed out")

// request is one API request: a GET, or a POST of a JSON body (the
// history actions).
type request struct {
	method string
	url    *url.URL
	body   []byte // nil for a GET
	// tokenOnly makes no request: it only gets a token (from the cache,
	// else from Entra, with the retries of a request).
	tokenOnly bool
}

// response is one API response, its body read in full.
type response struct {
	status      int
	contentType string
	retryAfter  string
	body        []byte
	// token is the access token the request carried, to be removed from
	// any quote of the body.
	token string
}

// send makes one authorized request, no retry, and reads the whole body
// within Config.RequestTimeout and Config.MaxResponseBytes. A transport
// failure comes back as a *retryable error unless ctx itself ended.
func (c *Client) send(ctx context.Context, r request, tok *oauth2.Token) (*response, error) {
	actx, cancel := context.WithTimeoutCause(ctx, c.cfg.RequestTimeout, errRequestTimeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, r.url.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, safePath(r.url), safeErr(err, messageBytes, nil))
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok.SetAuthHeader(req)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.obs.APIRequest(0, time.Since(start))
		return nil, transportError(ctx, actx, r, err)
	}
	defer resp.Body.Close()
	respBody, err := readBody(resp.Body, resp.ContentLength, c.cfg.MaxResponseBytes)
	d := time.Since(start)
	c.obs.APIRequest(resp.StatusCode, d)
	c.log.Debug("api request", "method", r.method, "path", logPath{r.url}, "status", resp.StatusCode, "bytes", len(respBody), "duration", d.Round(time.Microsecond).String())
	if errors.Is(err, ErrResponseTooLarge) {
		return nil, fmt.Errorf("%s %s: status %d: %w", r.method, safePath(r.url), resp.StatusCode, err)
	}
	if err != nil {
		return nil, transportError(ctx, actx, r, err)
	}
	return &response{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		retryAfter:  resp.Header.Get("Retry-After"),
		body:        respBody,
		token:       tok.AccessToken,
	}, nil
}

// readBody reads all of r, failing with ErrResponseTooLarge past limit.
// size is the length the response announced (-1 when unknown): reading
// into a buffer of that size leaves no garbage behind, where growing one
// as the bytes come leaves about four times the body (a page of 10,000
// agents is several megabytes). A length past prealloc is not trusted
// that far before the bytes arrive.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	const prealloc = 32 << 20
	lr := io.LimitReader(r, limit+1)
	var body []byte
	var err error
	if size > 0 && size <= limit {
		buf := bytes.NewBuffer(make([]byte, 0, min(size, prealloc)+bytes.MinRead))
		_, err = buf.ReadFrom(lr)
		body = buf.Bytes()
	} else {
		body, err = io.ReadAll(lr)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, limit)
	}
	return body, nil
}

// refuseRedirect is the CheckRedirect of both HTTP clients: no redirect is
// followed. Go's default would re-send a token request's form (the client
// secret) on a 307 or 308 to any host, plain http included, and keep the
// Authorization header when only the port or the scheme changes. The
// error names where the redirect pointed, its scheme and host only: the
// rest of the Location may hold anything.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	return fmt.Errorf("%w: status %d to %s", ErrRedirect, status, safetext.Cut(req.URL.Scheme+"://"+req.URL.Host, nameBytes))
}

// transportError describes a request that got no complete response. The
// URL is reduced to its path: its query may hold a skip token, and
// url.Error would quote it whole.
func transportError(ctx, actx context.Context, r request, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	what := r.method + " " + safePath(r.url)
	if errors.Is(err, ErrRedirect) {
		// Final: another attempt would be redirected again.
		return fmt.Errorf("%s: %w", what, err)
	}
	// A malformed response is quoted by net/http.
	err = safeErr(err, messageBytes, nil)
	if context.Cause(actx) == errRequestTimeout {
		return &retryable{reason: "timeout", err: fmt.Errorf("%s: %w", what, errRequestTimeout)}
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return &retryable{reason: "timeout", err: fmt.Errorf("%s: %w", what, err)}
	}
	return &retryable{reason: "network", err: fmt.Errorf("%s: %w", what, err)}
}

// safePath shows the path of u in an error or a log line: a nextLink's
// path comes from the server.
func safePath(u *url.URL) string { return safetext.Cut(u.Path, nameBytes) }

// logPath is a request's path as a log line shows it (safePath), made
// only when a handler writes the line: a debug line of each request costs
// nothing at the default level.
type logPath struct{ u *url.URL }

func (p logPath) LogValue() slog.Value { return slog.StringValue(safePath(p.u)) }

// secrets are the secrets a text from the API may hold, for safetext:
// the client secret, the access token a request carried, and every other
// token issued to this client.
func (c *Client) secrets(token string) []string {
	return append(c.issued.list(), c.cfg.ClientSecret, token)
}
