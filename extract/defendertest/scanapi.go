package defendertest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// serveDefinitions answers GET /api/DeviceAuthenticatedScanDefinitions,
// one page per request. No paging is documented for it; the simulated API
// pages like the agents listing, with $skiptoken nextLinks, when there are
// more definitions than the page size.
func (t *Tenant) serveDefinitions(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.stats.APIRequests++
	offset, ok := parseSkipToken(r.URL.Query().Get("$skiptoken"))
	if !ok {
		t.mu.Unlock()
		writeAPIError(w, http.StatusBadRequest, "InvalidInput", "Invalid $skiptoken.")
		return
	}
	page := offset/t.pageSize + 1
	fault := t.takeFault(false, DefinitionsPath, page)
	authorized := t.authorized(r)
	defs := t.currentDefinitions()
	casing, pageSize := t.casing, t.pageSize
	t.mu.Unlock()

	if !t.actOut(w, r, fault, authorized) {
		return
	}
	base := baseURL(r)
	end := min(offset+pageSize, len(defs))
	offset = min(offset, end)
	next := ""
	switch {
	case fault != nil && fault.kind == faultLoop:
		next = base + DefinitionsPath
	case end < len(defs):
		next = base + DefinitionsPath + "?$skiptoken=" + skipToken(end)
	}
	body := RenderDefinitions(base, defs[offset:end], casing, next)
	if fault != nil && fault.kind == faultTruncate {
		body = body[:len(body)/2]
	}
	writeJSON(w, http.StatusOK, body)
}

// maxHistoryTop is the largest $top the history by definition accepts.
const maxHistoryTop = 10000

// serveHistoryByDefinition answers POST .../GetScanHistoryByScanDefinitionId
// with {"ScanDefinitionIds": [...]}: the sessions of those definitions,
// newest first, paged by $top and $skip.
func (t *Tenant) serveHistoryByDefinition(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	top, errTop := queryInt(q.Get("$top"), maxHistoryTop)
	skip, errSkip := queryInt(q.Get("$skip"), 0)
	t.mu.Lock()
	t.stats.APIRequests++
	page := 1
	if top > 0 {
		page = skip/top + 1
	}
	fault := t.takeFault(false, HistoryByDefinitionPath, page)
	authorized := t.authorized(r)
	t.mu.Unlock()

	if !t.actOut(w, r, fault, authorized) {
		return
	}
	ids, ok := readIDs(w, r, "ScanDefinitionIds")
	if !ok {
		return
	}
	if errTop != nil || errSkip != nil || top < 1 || top > maxHistoryTop || skip < 0 {
		writeAPIError(w, http.StatusBadRequest, "InvalidInput", "Invalid $top or $skip: $top must be 1 to 10000.")
		return
	}
	t.mu.Lock()
	sessions, _ := t.sessionPage(ids, skip, top)
	casing, sendIDs := t.casing, !t.noSessionIDs
	t.mu.Unlock()

	base := baseURL(r)
	next := ""
	if fault != nil && fault.kind == faultLoop {
		next = base + r.URL.RequestURI()
	}
	body := RenderHistory(base, HistoryByDefinitionPath, sessions, casing, false, sendIDs, "", next)
	if fault != nil && fault.kind == faultTruncate {
		body = body[:len(body)/2]
	}
	writeJSON(w, http.StatusOK, body)
}

// serveHistoryBySession answers POST .../GetScanHistoryBySessionId with
// {"SessionIds": [...]}: those sessions with their targets, in the order
// asked; unknown ids are left out.
func (t *Tenant) serveHistoryBySession(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.stats.APIRequests++
	fault := t.takeFault(false, HistoryBySessionPath, 1)
	authorized := t.authorized(r)
	t.mu.Unlock()

	if !t.actOut(w, r, fault, authorized) {
		return
	}
	ids, ok := readIDs(w, r, "SessionIds")
	if !ok {
		return
	}
	t.mu.Lock()
	var sessions []Session
	for _, id := range ids {
		if s, found := t.sessionByID(id); found {
			sessions = append(sessions, s)
		}
	}
	casing := t.casing
	t.mu.Unlock()
	base := baseURL(r)
	next := ""
	if fault != nil && fault.kind == faultLoop {
		next = base + r.URL.RequestURI()
	}
	body := RenderHistory(base, HistoryBySessionPath, sessions, casing, true, true, "asdf781a0c-792d-46d3-bbea-a93dbc0bfcaa", next)
	if fault != nil && fault.kind == faultTruncate {
		body = body[:len(body)/2]
	}
	writeJSON(w, http.StatusOK, body)
}

// actOut acts out a fault, then refuses an unauthorized request. It
// reports whether the request should be answered.
func (t *Tenant) actOut(w http.ResponseWriter, r *http.Request, fault *Fault, authorized bool) bool {
	if fault != nil && fault.kind != faultLoop && fault.kind != faultTruncate {
		if !serveFault(w, r, fault) {
			return false
		}
	}
	if !authorized {
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized", "Authorization token is missing, invalid or expired.")
		return false
	}
	return true
}

// readIDs reads the JSON body of a history action, {"<name>": [ids]},
// the name matched in any case, as ASP.NET binds it. It answers 400 or 415
// itself when the body is not that.
func readIDs(w http.ResponseWriter, r *http.Request, name string) ([]string, bool) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeAPIError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The request must have Content-Type: application/json.")
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	var ids []string
	for k, v := range body {
		if strings.EqualFold(k, name) && err == nil {
			err = json.Unmarshal(v, &ids)
		}
	}
	if err != nil || ids == nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidInput", "The request body must hold "+name+", an array of ids.")
		return nil, false
	}
	return ids, true
}

// queryInt reads an OData integer option; def when absent.
func queryInt(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}
