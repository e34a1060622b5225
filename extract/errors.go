package extract

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// Sentinel errors. Test with errors.Is; the error returned wraps one of
// them with context such as the page number.
var (
	// ErrConfig marks an invalid Config: a missing or malformed setting, or
	// an unreadable certificate. Commands map it to their "bad
	// configuration" exit status.
	ErrConfig = errors.New("invalid configuration")

	// ErrNextLinkLoop reports an @odata.nextLink that points at a page the
	// listing already fetched. Following it would page forever.
	ErrNextLinkLoop = errors.New("nextLink loop: the API linked to a page already fetched")

	// ErrPageCap reports a listing that still had a nextLink after
	// Config.PageCap pages.
	ErrPageCap = errors.New("page cap reached with pages still to fetch")

	// ErrBadNextLink reports an @odata.nextLink that cannot be followed: not
	// a URL, or on another host than the API (the bearer token must never
	// go to another host).
	ErrBadNextLink = errors.New("unusable nextLink")

	// ErrBadBody reports a response body that is not the expected JSON: an
	// HTML error page, a truncated body, a collection without "value".
	// The error is a *BodyError.
	ErrBadBody = errors.New("response body is not the expected JSON")

	// ErrResponseTooLarge reports a response longer than
	// Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("response body too large")

	// ErrNotFound reports a 404 from an endpoint. The listing fails
	// rather than reading it as an empty tenant, which would make the loader
	// delete every agent (or definition).
	ErrNotFound = errors.New("the API answered 404 Not Found (not taken as an empty tenant; check the API URL, region and cloud)")

	// ErrPageRepeated reports a page of a $top/$skip listing identical to
	// the page before it: the API ignored $skip, and paging on would read
	// the same page until the page cap.
	ErrPageRepeated = errors.New("paging loop: a page repeated the one before it (the API ignored $skip)")

	// ErrRedirect reports a token endpoint or an API that answered with a
	// redirect. Entra and Defender do not redirect these calls, and
	// following one would send the client secret or the bearer token (and
	// a history request's body) wherever it points, plain http included,
	// so none is followed.
	ErrRedirect = errors.New("the server answered with a redirect, which is never followed (Entra and Defender do not redirect these calls; check the API and token URLs)")

	// ErrToken marks a request that failed for want of an access token:
	// Entra refused the credentials (an *AuthError), or could not be
	// reached after the retries. No other request of the tenant can fare
	// better until that is cured, so a sync fails the tenant's remaining
	// resources at once with the same error. The error's text is the
	// token request's.
	ErrToken = errors.New("no access token")
)

// tokenError is a failed token request, matching ErrToken without adding
// to its text.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }

func (e *tokenError) Unwrap() error { return e.err }

func (e *tokenError) Is(target error) bool { return target == ErrToken }

// configError builds an error that matches ErrConfig.
func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// AuthError is a failure of Microsoft Entra ID to issue a token, with the
// details Entra sends back. Every text it carries went through
// safetext.Cut: it never holds the client secret or the client assertion.
type AuthError struct {
	// StatusCode is the HTTP status of the token response.
	StatusCode int
	// Code is the numeric AADSTS code, such as 7000215; 0 when Entra sent
	// none.
	Code int
	// OAuthError is the OAuth 2.0 error, such as "invalid_client".
	OAuthError string
	// Description is the first line of Entra's error_description, without
	// its "AADSTS...: " prefix.
	Description string
	// TraceID and CorrelationID identify the request to Microsoft support.
	TraceID, CorrelationID string
}

// AADSTS returns the code as Entra spells it, such as "AADSTS7000215", or
// "" when there is none.
func (e *AuthError) AADSTS() string {
	if e.Code == 0 {
		return ""
	}
	return "AADSTS" + strconv.Itoa(e.Code)
}

func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entra token request failed with status %d", e.StatusCode)
	if code := e.AADSTS(); code != "" {
		b.WriteString(": " + code)
	}
	if e.OAuthError != "" {
		b.WriteString(" (" + e.OAuthError + ")")
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	var ids []string
	if e.TraceID != "" {
		ids = append(ids, "trace id "+e.TraceID)
	}
	if e.CorrelationID != "" {
		ids = append(ids, "correlation id "+e.CorrelationID)
	}
	if len(ids) > 0 {
		b.WriteString(" [" + strings.Join(ids, ", ") + "]")
	}
	return b.String()
}

// APIError is an error response of the Defender API:
// {"error":{"code":..,"message":..,"target":..}}. Every text it carries
// went through safetext.Cut, with the secrets in use.
type APIError struct {
	// Method and Path name the request; Path carries no query string, so
	// no skip token or other query value.
	Method, Path string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code and Message are the API's error code (such as "Forbidden") and
	// message; empty when the body was not an API error.
	Code, Message string
	// Target is the API's "target", usually a correlation id.
	Target string
	// Snippet is the start of the body when it was not an API error.
	Snippet string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: status %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Target != "" {
		b.WriteString(" (target " + e.Target + ")")
	}
	if e.Code == "" && e.Message == "" && e.Snippet != "" {
		fmt.Fprintf(&b, ": body starts \"%s\"", e.Snippet)
	}
	return b.String()
}

// BodyError is a successful response whose body is not the expected JSON.
// It matches ErrBadBody. Every text it carries went through safetext.Cut,
// with the secrets in use.
type BodyError struct {
	// StatusCode and ContentType are those of the response.
	StatusCode  int
	ContentType string
	// Snippet is the start of the body, on one line, with anything secret
	// removed.
	Snippet string
	// Err says what is wrong with the body. It may quote the body (a JSON
	// parser quotes the literal it could not read).
	Err error
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("%v (status %d, content type \"%s\"): %v; body starts \"%s\"",
		ErrBadBody, e.StatusCode, e.ContentType, e.Err, e.Snippet)
}

// Is makes errors.Is(err, ErrBadBody) hold.
func (e *BodyError) Is(target error) bool { return target == ErrBadBody }

func (e *BodyError) Unwrap() error { return e.Err }

// Bounds of what an error or a log line quotes of a response; see
// safetext.Cut, which every such quote goes through, with the secrets in
// use.
const (
	// snippetBytes bounds the start of a body quoted in an error.
	snippetBytes = 160
	// valueBytes bounds a value quoted in a reason or an error.
	valueBytes = 64
	// messageBytes bounds a message of the server, such as the API's
	// error message or what the JSON parser says of a body.
	messageBytes = 400
	// nameBytes bounds a name or an id the server sent: an error code, a
	// content type, a URL path, an agent id.
	nameBytes = 128
)

// safeError shows an error through safetext.Cut and still wraps it, so
// that errors.Is and errors.As see through it.
type safeError struct {
	text string
	err  error
}

func (e *safeError) Error() string { return e.text }
func (e *safeError) Unwrap() error { return e.err }

// safeErr returns err with its text made safe by safetext.Cut, bounded to
// n bytes: for errors that may quote what a server sent.
func safeErr(err error, n int, secrets []string) error {
	return &safeError{text: safetext.Cut(err.Error(), n, secrets...), err: err}
}

// quote shows a value the server sent in a reason or an error: in double
// quotes, made safe and short by safetext.Cut.
func quote(s string, secrets []string) string {
	return `"` + safetext.Cut(s, valueBytes, secrets...) + `"`
}
