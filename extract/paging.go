package extract

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// collection is one OData collection of the API, read page by page by
// readCollection: the one reader of every resource. A resource adds its
// first request and what to do with each element, never a loop of its own.
type collection struct {
	// first is the request of the first page: a GET, or a POST of the
	// history actions, whose body every page repeats.
	first request
	// top, when positive, pages with $top and $skip: each request asks
	// for top elements, and a shorter page is the last. A nextLink, if
	// the API ever sends one, is followed instead.
	top int
	// sensitive marks collections whose elements may carry credentials
	// (scan definitions): no error then quotes any byte of the body.
	sensitive bool
	// enough, when set, is asked after each page whether the elements so
	// far are all the caller wants; true ends the paging early.
	enough func() bool
	// soFar tells the observer how many records were handed on so far.
	soFar func() int
}

// element is one element of a page's "value" array.
type element struct {
	page, index int
	// members are the element's keys and values in the order sent; nil
	// when it is no object, and notObject then says what it is.
	members   []member
	notObject string
	// secrets are the secrets in use, for safetext.
	secrets []string
}

// readCollection fetches every page of col, following @odata.nextLink
// (or $skip), and calls each for every element in order. Only one page is
// in memory at a time. It returns the number of pages read, and a non-nil
// error whenever the reading is incomplete: a failed request, a body that
// is not the expected JSON, a nextLink loop or a repeated page, the page
// cap, a 404, ctx ending, or an error from each (wrapped). *requests
// counts every request sent, retries included.
func (c *Client) readCollection(ctx context.Context, col collection, requests *int, each func(element) error) (pages int, err error) {
	followed := make(map[string]bool)
	next := col.first
	skip := 0
	if col.top > 0 {
		next.url = withSkip(col.first.url, col.top, skip)
	}
	var previous [sha256.Size]byte
	c.log.Debug("listing", "method", next.method, "path", logPath{next.url})
	for page := 1; ; page++ {
		if err := context.Cause(ctx); err != nil {
			return pages, fmt.Errorf("fetch page %d: %w", page, err)
		}
		if page > c.cfg.PageCap {
			return pages, fmt.Errorf("fetch page %d: %w (cap %d pages)", page, ErrPageCap, c.cfg.PageCap)
		}
		key := next.url.String()
		if followed[key] {
			return pages, fmt.Errorf("fetch page %d: %w: %s", page, ErrNextLinkLoop, safetext.Cut(redactedURL(next.url), messageBytes))
		}
		followed[key] = true

		resp, err := c.fetch(ctx, next, requests)
		if err != nil {
			return pages, fmt.Errorf("fetch page %d: %w", page, err)
		}
		elements, link, err := c.decodeResponse(col, page, resp, each)
		if err != nil {
			return pages, err
		}
		pages++
		soFar := elements
		if col.soFar != nil {
			soFar = col.soFar()
		}
		c.obs.Page(page, soFar)
		c.log.Debug("page listed", "page", page, "records_so_far", soFar, "more", link != "")
		if col.enough != nil && col.enough() {
			break
		}
		if link != "" {
			u, err := c.nextPage(next.url, link)
			if err != nil {
				return pages, fmt.Errorf("page %d: %w", page, err)
			}
			next.url = u
			continue
		}
		if col.top <= 0 || elements < col.top {
			break
		}
		// A full page: the next one starts after it, unless the API
		// answered this page exactly as the one before (it ignored $skip).
		sum := sha256.Sum256(resp.body)
		if page > 1 && sum == previous {
			return pages, fmt.Errorf("fetch page %d: %w", page+1, ErrPageRepeated)
		}
		previous = sum
		skip += elements
		next.url = withSkip(col.first.url, col.top, skip)
	}
	return pages, nil
}

// decodeResponse decodes one page of col and calls each for every
// element. It returns how many elements the page held and its nextLink.
// An error from each is returned wrapped with the page; any other error
// is a *BodyError, which quotes nothing of the body when col is
// sensitive.
func (c *Client) decodeResponse(col collection, page int, resp *response, each func(element) error) (elements int, nextLink string, err error) {
	var eachErr error
	secrets := c.secrets(resp.token)
	nextLink, err = decodePage(resp.body, func(index int, members []member, notObject string) error {
		elements++
		eachErr = each(element{page: page, index: index, members: members, notObject: notObject, secrets: secrets})
		return eachErr
	}, col.sensitive, secrets...)
	switch {
	case eachErr != nil:
		return elements, "", fmt.Errorf("page %d: %w", page, eachErr)
	case err != nil && col.sensitive:
		return elements, "", fmt.Errorf("decode page %d: %w", page, &BodyError{
			StatusCode:  resp.status,
			ContentType: safetext.Cut(resp.contentType, nameBytes, secrets...),
			Snippet:     notQuoted,
			Err:         errors.New(unquotedParseError(err)),
		})
	case err != nil:
		return elements, "", fmt.Errorf("decode page %d: %w", page, &BodyError{
			StatusCode:  resp.status,
			ContentType: safetext.Cut(resp.contentType, nameBytes, secrets...),
			Snippet:     safetext.CutBytes(resp.body, snippetBytes, secrets...),
			// The parser quotes the literal it could not read, whole.
			Err: safeErr(err, messageBytes, secrets),
		})
	}
	return elements, nextLink, nil
}

// withSkip returns u with the $top and $skip of one page. The dollar signs
// go unescaped, as OData spells them.
func withSkip(u *url.URL, top, skip int) *url.URL {
	out := *u
	q := "$top=" + strconv.Itoa(top) + "&$skip=" + strconv.Itoa(skip)
	if out.RawQuery != "" {
		q = out.RawQuery + "&" + q
	}
	out.RawQuery = q
	return &out
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
