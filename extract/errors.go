package extract

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

	// ErrNotFound reports a 404 from the list endpoint. The listing fails
	// rather than reading it as an empty tenant, which would make the loader
	// delete every agent.
	ErrNotFound = errors.New("the scan agents endpoint answered 404 Not Found (not taken as an empty tenant; check the API URL, region and cloud)")
)

// configError builds an error that matches ErrConfig.
func configError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// AuthError is a failure of Microsoft Entra ID to issue a token, with the
// details Entra sends back. It never holds the client secret or the client
// assertion: both are removed from every text it carries.
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
// {"error":{"code":..,"message":..,"target":..}}.
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
		fmt.Fprintf(&b, ": body starts %q", e.Snippet)
	}
	return b.String()
}

// BodyError is a successful response whose body is not the expected JSON.
// It matches ErrBadBody.
type BodyError struct {
	// StatusCode and ContentType are those of the response.
	StatusCode  int
	ContentType string
	// Snippet is the start of the body, on one line, with anything secret
	// removed.
	Snippet string
	// Err says what is wrong with the body.
	Err error
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("%v (status %d, content type %q): %v; body starts %q",
		ErrBadBody, e.StatusCode, e.ContentType, e.Err, e.Snippet)
}

// Is makes errors.Is(err, ErrBadBody) hold.
func (e *BodyError) Is(target error) bool { return target == ErrBadBody }

func (e *BodyError) Unwrap() error { return e.Err }

// shorten bounds a value quoted in a reason or a log line.
func shorten(s string) string { return shortenTo(s, 64) }

// shortenTo cuts s to at most n bytes, on a rune boundary, marking the cut.
func shortenTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// oneLine makes s fit on one line of a log or an error message: control
// characters become spaces, runs of spaces one space.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// snippetBytes is how much of a body an error quotes.
const snippetBytes = 160

// snippet quotes the start of a body in an error: valid UTF-8, one line,
// short, and without any of secrets. The secrets are removed before the
// cut, so that no part of one survives at the edge. The part read is
// widened past any secret it would cut through: folding spaces pulls text
// from the end of that part into the quote, so a secret cut in two there
// would show its first half.
func snippet(body []byte, secrets ...string) string {
	longest := 0
	for _, s := range secrets {
		longest = max(longest, len(s))
	}
	end := min(len(body), snippetBytes+longest)
	for widened := true; widened; {
		widened = false
		for _, s := range secrets {
			if s == "" {
				continue
			}
			// In this window any occurrence starts before end and finishes
			// after it.
			lo, hi := max(0, end-len(s)+1), min(len(body), end+len(s)-1)
			if lo < hi {
				if j := bytes.Index(body[lo:hi], []byte(s)); j >= 0 {
					end, widened = lo+j+len(s), true
				}
			}
		}
	}
	s := redact(cleanString(string(body[:end])), secrets...)
	return shortenTo(oneLine(s), snippetBytes)
}
