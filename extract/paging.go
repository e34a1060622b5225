package extract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

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
	var st scanagent.ListStats
	seen := make(map[string]struct{})
	followed := make(map[string]bool)
	next := c.ep.list
	c.log.Debug("listing scan agents", "url", next.String())
	for page := 1; ; page++ {
		if err := context.Cause(ctx); err != nil {
			return st, fmt.Errorf("fetch page %d: %w", page, err)
		}
		if page > c.cfg.PageCap {
			return st, fmt.Errorf("fetch page %d: %w (cap %d pages)", page, ErrPageCap, c.cfg.PageCap)
		}
		key := next.String()
		if followed[key] {
			return st, fmt.Errorf("fetch page %d: %w: %s", page, ErrNextLinkLoop, safetext.Cut(redactedURL(next), messageBytes))
		}
		followed[key] = true

		resp, err := c.fetch(ctx, next, &st)
		if err != nil {
			return st, fmt.Errorf("fetch page %d: %w", page, err)
		}
		link, err := c.handOn(page, resp, &st, seen, fn)
		if err != nil {
			return st, err
		}
		st.Pages++
		c.obs.Page(page, st.Agents)
		c.log.Debug("page listed", "page", page, "agents_so_far", st.Agents, "more", link != "")
		if link == "" {
			break
		}
		if next, err = c.nextPage(next, link); err != nil {
			return st, fmt.Errorf("page %d: %w", page, err)
		}
	}
	return st, nil
}

// handOn decodes one page and hands its agents to fn, counting them in st
// and their ids in seen. It returns the page's nextLink.
func (c *Client) handOn(page int, resp *response, st *scanagent.ListStats, seen map[string]struct{}, fn func(scanagent.Record) error) (nextLink string, err error) {
	var fnErr error
	secrets := c.secrets(resp.token)
	nextLink, err = decodePage(resp.body, func(index int, members []member, notObject string) error {
		rec, conflicts, reason := normalizeAgent(members, secrets...)
		if notObject != "" {
			reason = notObject
		}
		if reason != "" {
			st.Rejected++
			if rec.ID != "" {
				st.RejectedIDs = append(st.RejectedIDs, rec.ID)
			} else {
				st.Unidentified++
			}
			c.log.Warn("agent rejected", "page", page, "index", index, "id", safetext.Cut(rec.ID, nameBytes, secrets...), "reason", reason)
			return nil
		}
		for _, cf := range conflicts {
			c.log.Warn("agent sent a field twice with different values; the last one counts",
				"page", page, "id", safetext.Cut(rec.ID, nameBytes, secrets...), "field", cf.field, "first_key", cf.first, "last_key", cf.second)
		}
		if _, dup := seen[rec.ID]; dup {
			st.Duplicates++
			c.log.Warn("agent id listed twice; the last one counts", "page", page, "id", safetext.Cut(rec.ID, nameBytes, secrets...))
		} else {
			seen[rec.ID] = struct{}{}
		}
		st.Agents++
		fnErr = fn(rec)
		return fnErr
	}, secrets...)
	switch {
	case fnErr != nil:
		return "", fmt.Errorf("page %d: %w", page, fnErr)
	case err != nil:
		return "", fmt.Errorf("decode page %d: %w", page, &BodyError{
			StatusCode:  resp.status,
			ContentType: safetext.Cut(resp.contentType, nameBytes, secrets...),
			Snippet:     safetext.CutBytes(resp.body, snippetBytes, secrets...),
			// The parser quotes the literal it could not read, whole.
			Err: safeErr(err, messageBytes, secrets),
		})
	}
	return nextLink, nil
}

// apiDomains are the parents of every Defender API host. A nextLink may
// move between them (a regional host answering for the global one), never
// elsewhere: the bearer token goes wherever the link points.
var apiDomains = []string{".security.microsoft.com", ".securitycenter.microsoft.com", ".securitycenter.microsoft.us"}

// nextPage resolves an @odata.nextLink against the current page and checks
// that the token may follow it.
func (c *Client) nextPage(current *url.URL, link string) (*url.URL, error) {
	u, err := current.Parse(link)
	if err != nil {
		// The parser quotes the link.
		return nil, fmt.Errorf("%w: %s", ErrBadNextLink, safetext.Cut(errors.Unwrap(err).Error(), messageBytes))
	}
	u.Fragment = ""
	api := c.ep.list
	if u.Scheme == api.Scheme && strings.EqualFold(u.Host, api.Host) {
		return u, nil
	}
	if u.Scheme == "https" && isAPIHost(u.Hostname()) && isAPIHost(api.Hostname()) {
		return u, nil
	}
	return nil, fmt.Errorf("%w: it points to %s, not to the API host %s", ErrBadNextLink, safetext.Cut(u.Scheme+"://"+u.Host, nameBytes), api.Host)
}

func isAPIHost(host string) bool {
	host = strings.ToLower(host)
	for _, d := range apiDomains {
		if strings.HasSuffix(host, d) {
			return true
		}
	}
	return false
}

// redactedURL shows a URL in an error without its query values, which may
// be skip tokens: the parameter names are enough to see a lost query.
func redactedURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery == "" {
		return s
	}
	q := u.Query()
	names := make([]string, 0, len(q))
	for _, name := range slices.Sorted(maps.Keys(q)) {
		names = append(names, name+"=…")
	}
	return s + "?" + strings.Join(names, "&")
}
