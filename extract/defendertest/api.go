package defendertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveList answers GET /api/DeviceAuthenticatedScanAgents, one page per
// request, paging with $skiptoken.
func (t *Tenant) serveList(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.stats.APIRequests++
	offset, ok := parseSkipToken(r.URL.Query().Get("$skiptoken"))
	if !ok {
		t.mu.Unlock()
		writeAPIError(w, http.StatusBadRequest, "InvalidInput", "Invalid $skiptoken.")
		return
	}
	page := offset/t.pageSize + 1
	fault := t.takeFault(false, ListPath, page)
	authorized := t.authorized(r)
	agents := t.currentAgents()
	casing, pageSize := t.casing, t.pageSize
	t.mu.Unlock()

	if fault != nil && fault.kind != faultLoop && fault.kind != faultTruncate {
		if !serveFault(w, r, fault) {
			return
		}
	}
	if !authorized {
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized", "Authorization token is missing, invalid or expired.")
		return
	}
	base := baseURL(r)
	end := min(offset+pageSize, len(agents))
	offset = min(offset, end)
	next := ""
	switch {
	case fault != nil && fault.kind == faultLoop:
		next = base + ListPath
	case end < len(agents):
		next = base + ListPath + "?$skiptoken=" + skipToken(end)
	}
	body := RenderPage(base, agents[offset:end], casing, next)
	if fault != nil && fault.kind == faultTruncate {
		body = body[:len(body)/2]
	}
	writeJSON(w, http.StatusOK, body)
}

// serveAgent answers GET /api/DeviceAuthenticatedScanAgents/{id}; like the
// vendor's example, it wraps the agent in "value".
func (t *Tenant) serveAgent(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.stats.APIRequests++
	authorized := t.authorized(r)
	agents := t.currentAgents()
	casing := t.casing
	t.mu.Unlock()
	if !authorized {
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized", "Authorization token is missing, invalid or expired.")
		return
	}
	id := r.PathValue("id")
	for _, a := range agents {
		if a.ID == id {
			writeJSON(w, http.StatusOK, RenderPage(baseURL(r), []Agent{a}, casing, ""))
			return
		}
	}
	writeAPIError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Authenticated scan agent %s was not found.", id))
}

// serveFault acts out a fault and reports whether the request should then
// be answered normally (a slow response).
func serveFault(w http.ResponseWriter, r *http.Request, f *Fault) (answer bool) {
	switch f.kind {
	case faultSlow:
		return sleep(r.Context(), f.delay)
	case faultStatus:
		switch {
		case f.retryAfter != "":
			w.Header().Set("Retry-After", f.retryAfter)
		case f.retryIn > 0:
			w.Header().Set("Retry-After", time.Now().Add(f.retryIn).UTC().Format(http.TimeFormat))
		}
		code, message := apiErrorText(f.status)
		writeAPIError(w, f.status, code, message)
	case faultHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%[1]d %[2]s</h1><p>The gateway could not complete the request.</p></body></html>\n",
			f.status, http.StatusText(f.status))
	case faultRaw:
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		writeJSON(w, f.status, bytes.ReplaceAll(f.body, []byte(EchoedToken), []byte(token)))
	case faultDrop:
		// Break off in the middle of the body: a connection dropped
		// before any response would be retried by net/http itself.
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"value\":[")
		buf.Flush()
		conn.Close()
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// authorized checks the bearer token. t.mu must be held.
func (t *Tenant) authorized(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	expiry, ok := t.tokens[token]
	return ok && time.Now().Before(expiry)
}

func apiErrorText(status int) (code, message string) {
	switch status {
	case 400:
		return "BadRequest", "The request is invalid."
	case 401:
		return "Unauthorized", "Authorization token is missing, invalid or expired."
	case 403:
		return "Forbidden", "Missing application roles. API required roles: Machine.Read.All,Machine.ReadWrite.All. Application roles: ."
	case 404:
		return "ResourceNotFound", "The requested resource was not found."
	case 429:
		return "TooManyRequests", "API calls quota exceeded! Maximum allowed: 100 per 60 seconds. Try again later."
	case 500:
		return "InternalServerError", "An unexpected error occurred."
	}
	return strings.ReplaceAll(http.StatusText(status), " ", ""), http.StatusText(status) + "."
}

func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{
		"code": code, "message": message, "target": newID(),
	}})
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// baseURL is the server's own URL as the client reached it, for absolute
// nextLinks.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func skipToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func parseSkipToken(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	digits, ok := strings.CutPrefix(string(raw), "offset:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil && n >= 0
}
