package defendertest

import (
	"slices"
	"time"
)

type faultKind int

const (
	faultStatus faultKind = iota + 1
	faultSlow
	faultTruncate
	faultHTML
	faultLoop
	faultDrop
	faultRaw
)

// Fault is a misbehaviour of the simulated tenant, made with one of the
// constructors below and added with Tenant.Inject. By default a fault hits
// the next matching request once; Times, Always and OnPage change that.
type Fault struct {
	kind       faultKind
	token      bool // hits the token endpoint instead of the API
	status     int
	retryAfter string
	retryIn    time.Duration // Retry-After as an HTTP date this far ahead
	delay      time.Duration
	times      int // requests left to hit; negative for always
	page       int // 1-based page it hits; 0 for any
	body       []byte
	// paths are the API paths it hits; none means the agents listing.
	paths []string
}

// TooManyRequests answers 429 with the given Retry-After header value (in
// seconds, or any text; "" sends none).
func TooManyRequests(retryAfter string) Fault {
	return Fault{kind: faultStatus, status: 429, retryAfter: retryAfter, times: 1}
}

// TooManyRequestsFor answers 429 with a Retry-After that is an HTTP date d
// from the moment of the response.
func TooManyRequestsFor(d time.Duration) Fault {
	return Fault{kind: faultStatus, status: 429, retryIn: d, times: 1}
}

// ServerError answers status (500, 502, 503...) with the API's JSON error.
func ServerError(status int) Fault {
	return Fault{kind: faultStatus, status: status, times: 1}
}

// NotFound answers 404 with the API's JSON error, as /api/machines does
// for a tenant without machines.
func NotFound() Fault { return Fault{kind: faultStatus, status: 404, times: 1} }

// Status answers any status with the API's JSON error (403 Forbidden,
// 400 BadRequest...).
func Status(status int) Fault { return Fault{kind: faultStatus, status: status, times: 1} }

// Slow waits d before answering normally; it gives up early if the client
// goes away.
func Slow(d time.Duration) Fault { return Fault{kind: faultSlow, delay: d, times: 1} }

// TruncatedBody answers 200 with the first half of the page only.
func TruncatedBody() Fault { return Fault{kind: faultTruncate, times: 1} }

// HTMLPage answers status with an HTML error page, as a gateway or proxy
// in front of the API does.
func HTMLPage(status int) Fault { return Fault{kind: faultHTML, status: status, times: 1} }

// NextLinkLoop serves the page normally but with an @odata.nextLink that
// has lost its query, so that it points back to the first page.
func NextLinkLoop() Fault { return Fault{kind: faultLoop, times: 1} }

// DropConnection breaks the connection in the middle of a response.
func DropConnection() Fault { return Fault{kind: faultDrop, times: 1} }

// EchoedToken, inside a RawBody, stands for the bearer token of the
// request it answers.
const EchoedToken = "{{bearer-token}}"

// RawBody answers 200 with body byte for byte, under the API's JSON
// content type: a body the API should never send, such as one with a raw
// control character or invalid UTF-8 inside a string. Each EchoedToken in
// body is replaced by the request's bearer token, as a gateway that echoes
// request headers does.
func RawBody(body []byte) Fault {
	return Fault{kind: faultRaw, status: 200, body: body, times: 1}
}

// RawResponse answers status with body byte for byte, as RawBody does:
// an error body that quotes what it should not, for one. On the token
// endpoint (see OnToken) EchoedToken is not replaced.
func RawResponse(status int, body []byte) Fault {
	return Fault{kind: faultRaw, status: status, body: body, times: 1}
}

// OnToken makes f hit the token endpoint instead of the API.
func (f Fault) OnToken() Fault {
	f.token = true
	return f
}

// TokenServerError makes the token endpoint answer status with an Entra
// error (AADSTS90033, a transient error).
func TokenServerError(status int) Fault {
	return Fault{kind: faultStatus, token: true, status: status, times: 1}
}

// Times makes f hit the next n matching requests.
func (f Fault) Times(n int) Fault {
	f.times = n
	return f
}

// Always makes f hit every matching request.
func (f Fault) Always() Fault {
	f.times = -1
	return f
}

// OnPage makes f hit only requests for page k (from 1). A page of the
// history by definition is its $skip / $top + 1.
func (f Fault) OnPage(k int) Fault {
	f.page = k
	return f
}

// On makes f hit the requests of the given API paths (ListPath,
// DefinitionsPath, HistoryByDefinitionPath, HistoryBySessionPath) instead
// of the agents listing alone.
func (f Fault) On(paths ...string) Fault {
	f.paths = paths
	return f
}

// AllAPIPaths are the paths of every endpoint the simulated API serves
// faults on.
var AllAPIPaths = []string{ListPath, DefinitionsPath, HistoryByDefinitionPath, HistoryBySessionPath}

// takeFault returns the first fault that matches a request to path, using
// one of its hits, or nil. path and page are empty for the token endpoint.
// t.mu must be held.
func (t *Tenant) takeFault(token bool, path string, page int) *Fault {
	for i, f := range t.faults {
		if f.token != token || f.times == 0 || (f.page != 0 && f.page != page) {
			continue
		}
		if !token && !slices.Contains(f.paths, path) && (len(f.paths) > 0 || path != ListPath) {
			continue
		}
		hit := *f
		if f.times > 0 {
			f.times--
			if f.times == 0 {
				t.faults = append(t.faults[:i], t.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}
