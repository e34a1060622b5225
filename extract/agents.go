package extract

import (
	"context"
	"net/http"

	"github.com/agentsync/agentsync/internal/idset"
	"github.com/agentsync/agentsync/internal/safetext"
	"github.com/agentsync/agentsync/scanagent"
)

// List streams every scan agent of the tenant to fn, one normalized record
// at a time, in the order the API lists them, following @odata.nextLink
// from page to page. Only one page is in memory at a time.
//
// An agent without an id, or with a field that cannot be read, is logged
// and counted in ListStats.Rejected (and, without a usable id, in
// ListStats.Unidentified), and the listing goes on. An id seen before in
// the same listing is counted in ListStats.Duplicates and logged, and the
// record is still handed to fn: the last one counts.
//
// List returns a non-nil error whenever the listing is incomplete: a
// failed request, a body that is not the expected JSON, a nextLink loop,
// the page cap, a 404, ctx ending, or an error from fn (wrapped).
// ListStats tells how far it got. List satisfies scanagent.ListFunc.
func (c *Client) List(ctx context.Context, fn func(scanagent.Record) error) (scanagent.ListStats, error) {
	r := agentReader{c: c, fn: fn, seen: idset.New()}
	col := collection{
		first: request{method: http.MethodGet, url: c.ep.list},
		soFar: func() int { return r.st.Agents },
	}
	pages, err := c.readCollection(ctx, col, &r.st.Requests, r.element)
	r.st.Pages = pages
	c.logCredentialsRemoved("agents", r.st)
	c.logRepairs("agents", r.st)
	return r.st, err
}

// handOn decodes one page of agents and hands its agents to fn, counting
// them in st and their ids in seen. It returns the page's nextLink.
func (c *Client) handOn(page int, resp *response, st *scanagent.ListStats, seen idset.Set, fn func(scanagent.Record) error) (nextLink string, err error) {
	r := agentReader{c: c, fn: fn, seen: seen, st: *st}
	_, nextLink, err = c.decodeResponse(collection{}, page, resp, r.element)
	*st = r.st
	return nextLink, err
}

// agentReader turns the elements of the agents listing into records.
type agentReader struct {
	c    *Client
	fn   func(scanagent.Record) error
	seen idset.Set
	st   scanagent.ListStats
}

func (r *agentReader) element(e element) error {
	c, st := r.c, &r.st
	rec, conflicts, reason := normalizeAgent(e.members, e.secrets...)
	if e.notObject != "" {
		reason = e.notObject
	}
	if reason != "" {
		st.Rejected++
		if rec.ID != "" {
			st.RejectedIDs = append(st.RejectedIDs, rec.ID)
		} else {
			st.Unidentified++
		}
		c.log.Warn("agent rejected", "page", e.page, "index", e.index, "id", safetext.Cut(rec.ID, nameBytes, e.secrets...), "reason", reason)
		return nil
	}
	for _, cf := range conflicts {
		c.log.Warn("agent sent a field twice with different values; the last one counts",
			"page", e.page, "id", safetext.Cut(rec.ID, nameBytes, e.secrets...), "field", cf.field, "first_key", cf.first, "last_key", cf.second)
	}
	// Before anything keeps, logs or prints the agent.
	rec.Extra = scrub(rec.Extra, nil, st, e.secrets)
	noteAgentRepairs(st, &rec, e.members, e.secrets)
	if r.seen.Add(rec.ID) {
		st.Duplicates++
		c.log.Warn("agent id listed twice; the last one counts", "page", e.page, "id", safetext.Cut(rec.ID, nameBytes, e.secrets...))
	}
	st.Agents++
	return r.fn(rec)
}
