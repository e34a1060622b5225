package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/agentsync/agentsync/internal/safetext"
)

// RetryPolicy bounds the retries of one API request: 429s, 5xx responses,
// timeouts and broken connections. Other errors fail at once.
type RetryPolicy struct {
	// MaxAttempts counts every attempt, the first included; default 6.
	MaxAttempts int
	// InitialInterval is the first backoff, doubled at each retry up to
	// MaxInterval, each randomized by ±50%; defaults 1s and 30s.
	InitialInterval, MaxInterval time.Duration
	// MaxElapsed bounds the time spent on one request, waits included;
	// default 5 minutes.
	MaxElapsed time.Duration
	// MaxRetryAfter caps the wait a 429's Retry-After asks for; default 2
	// minutes. The retry after a capped wait may be refused again, and so
	// spends an attempt, but a sync never stalls for an hour.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 6
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = time.Second
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 30 * time.Second
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 5 * time.Minute
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 2 * time.Minute
	}
	return p
}

// retryable is an attempt's error that another attempt may cure. reason is
// what Observer.Retry is told.
type retryable struct {
	reason string
	err    error
	// after is the server's Retry-After, capped; nil for the exponential
	// backoff. backoff.Retry finds it through Unwrap.
	after *backoff.RetryAfterError
	// token says that the token request failed, before any API request.
	token bool
}

func (e *retryable) Error() string { return e.err.Error() }

func (e *retryable) Unwrap() []error {
	if e.after != nil {
		return []error{e.err, e.after}
	}
	return []error{e.err}
}

// fetch makes one request with retries. Every attempt first waits for the
// rate budget; *requests counts every attempt that was sent.
func (c *Client) fetch(ctx context.Context, req request, requests *int) (*response, error) {
	refreshed := false
	attempts := 0
	op := func() (*response, error) {
		attempts++
		resp, err := c.attempt(ctx, req, &refreshed, requests)
		var r *retryable
		if err != nil && !errors.As(err, &r) {
			return nil, backoff.Permanent(err)
		}
		return resp, err
	}
	started := time.Now()
	resp, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     c.retry.InitialInterval,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         c.retry.MaxInterval,
		}),
		backoff.WithMaxTries(uint(c.retry.MaxAttempts)),
		backoff.WithMaxElapsedTime(c.retry.MaxElapsed),
		backoff.WithNotify(func(err error, wait time.Duration) {
			var r *retryable
			if !errors.As(err, &r) {
				return
			}
			c.obs.Retry(r.reason)
			waited := wait.Round(time.Millisecond).String()
			if r.token {
				// Host and path only: the endpoint is the token URL's, and
				// no query of it belongs in a log.
				c.log.Warn("retrying token request", "endpoint", c.ep.token.Host+c.ep.token.EscapedPath(),
					"reason", r.reason, "attempt", attempts, "wait", waited, "error", err)
				return
			}
			c.log.Warn("retrying API request", "method", req.method, "path", safePath(req.url), "reason", r.reason, "attempt", attempts, "wait", waited, "error", err)
		}),
	)
	if err == nil {
		return resp, nil
	}
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		// backoff.Retry returns a permanent error wrapped when it is also
		// the last attempt; callers should not need to know the library.
		err = perm.Err
	}
	var r *retryable
	if errors.As(err, &r) {
		return nil, fmt.Errorf("gave up after %d attempts in %s: %w", attempts, time.Since(started).Round(time.Millisecond), r.err)
	}
	return nil, err
}

// authenticate gets a token as a request would (from the cache, else
// from Entra with the retries of a request), for a reading that has no
// request to make.
func (c *Client) authenticate(ctx context.Context) error {
	var requests int
	_, err := c.fetch(ctx, request{tokenOnly: true}, &requests)
	return err
}

// attempt makes one try at r: budget, token, request. Its error is a
// *retryable when another try may succeed.
func (c *Client) attempt(ctx context.Context, r request, refreshed *bool, requests *int) (*response, error) {
	if r.tokenOnly {
		if _, err := c.tokens.token(ctx); err != nil {
			return nil, tokenFailure(ctx, err)
		}
		return &response{}, nil
	}
	if err := c.budget.wait(ctx); err != nil {
		return nil, err
	}
	tok, err := c.tokens.token(ctx)
	if err != nil {
		return nil, tokenFailure(ctx, err)
	}
	*requests++
	resp, err := c.send(ctx, r, tok)
	if err != nil {
		return nil, err
	}
	switch s := resp.status; {
	case s >= 200 && s < 300:
		return resp, nil
	case s == http.StatusUnauthorized && !*refreshed:
		// The token may have been revoked or expired early: one fresh
		// token, at once. A second 401 is final.
		*refreshed = true
		c.tokens.invalidate()
		return nil, &retryable{reason: "401", err: c.apiError(r, resp), after: &backoff.RetryAfterError{}}
	case s == http.StatusTooManyRequests:
		r := &retryable{reason: "429", err: c.apiError(r, resp)}
		if d, ok := parseRetryAfter(resp.retryAfter, time.Now()); ok {
			r.after = &backoff.RetryAfterError{Duration: min(d, c.retry.MaxRetryAfter)}
		}
		return nil, r
	case s >= 500:
		return nil, &retryable{reason: "5xx", err: c.apiError(r, resp)}
	case s == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %w", ErrNotFound, c.apiError(r, resp))
	default:
		return nil, c.apiError(r, resp)
	}
}

// tokenFailure classifies a failed token fetch: Entra refusing the
// credentials is final, Entra being unavailable or unreachable is not. A
// retry is marked as the token request's; either way the error matches
// ErrToken.
func tokenFailure(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	var ae *AuthError
	if errors.As(err, &ae) && (ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests) {
		return &retryable{reason: "5xx", err: &tokenError{err}, token: true}
	}
	var r *retryable
	if errors.As(err, &r) { // Entra could not be reached
		return &retryable{reason: r.reason, err: &tokenError{r.err}, token: true}
	}
	return &tokenError{err}
}

// apiError reads the API's {"error":{"code","message","target"}} body, or
// quotes the body's start when it is something else (an HTML page from a
// gateway).
func (c *Client) apiError(r request, resp *response) *APIError {
	e := &APIError{Method: r.method, Path: safePath(r.url), StatusCode: resp.status}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Target  string `json:"target"`
		} `json:"error"`
	}
	secrets := c.secrets(resp.token)
	if json.Unmarshal(resp.body, &body) == nil && (body.Error.Code != "" || body.Error.Message != "") {
		e.Code = safetext.Cut(body.Error.Code, nameBytes, secrets...)
		e.Message = safetext.Cut(body.Error.Message, messageBytes, secrets...)
		e.Target = safetext.Cut(body.Error.Target, nameBytes, secrets...)
	} else {
		e.Snippet = safetext.CutBytes(resp.body, snippetBytes, secrets...)
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. A date in the past means no wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Cap before multiplying: a huge value must not overflow into a
		// negative duration.
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
