package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/agentsync/agentsync/internal/safetext"
)

// utf8BOM is skipped at the start of a body; some gateways add it.
var utf8BOM = []byte("\xef\xbb\xbf")

// decodePage reads one page of the listing, an OData collection
// {"value": [agent, ...], "@odata.nextLink": "..."}, and calls each for
// every element of "value" in order, with the agent's members in the order
// sent, or with notObject saying why the element is not an agent object.
// It returns the nextLink, "" on the last page.
//
// The body is checked as a whole before the first call to each: a page that
// is cut short hands on no agent at all. The vendor's own example ends its
// array with a trailing comma, so a body that is not standard JSON is first
// standardized (hujson: trailing commas and comments become spaces). An
// error from each is returned unchanged; any other error is a problem with
// the body.
//
// Member values passed to each are slices of body: each must copy what it
// keeps. Values quoted in errors and reasons go through safetext.Cut with
// secrets, the secrets in use; with quiet set, errors and notObject name
// the kind of a value without quoting it (for bodies that may carry
// credentials).
func decodePage(body []byte, each func(index int, members []member, notObject string) error, quiet bool, secrets ...string) (nextLink string, err error) {
	if body, err = standardJSON(body); err != nil {
		return "", err
	}
	// From here on body is valid JSON, which the scanner relies on.
	s := &scanner{b: body, secrets: secrets, quiet: quiet}
	if c := s.peek(); c != '{' {
		return "", fmt.Errorf("want a JSON object, got %s", s.describe())
	}
	sawValue := false
	s.i++
	for {
		if c := s.next(); c == '}' || c == 0 {
			break
		}
		key := s.key()
		switch strings.ToLower(key) {
		case "value":
			if sawValue {
				return "", errors.New(`two "value" members`)
			}
			sawValue = true
			if err := s.agents(each); err != nil {
				return "", err
			}
		case "@odata.nextlink", "odata.nextlink":
			switch raw := s.value(); raw[0] {
			case 'n':
				nextLink = ""
			case '"':
				nextLink = decodeString(raw)
			default:
				if s.quiet {
					return "", errors.New("@odata.nextLink is not a string")
				}
				return "", fmt.Errorf("@odata.nextLink is %s, not a string", safetext.Cut(string(raw), valueBytes, s.secrets...))
			}
		default:
			s.value()
		}
	}
	if !sawValue {
		// Never read a body without "value" as an empty page: an empty
		// listing makes the loader delete every agent.
		return "", errors.New(`no "value" array`)
	}
	return nextLink, nil
}

// scanner walks a body known to be valid JSON, without allocating: it finds
// where keys and values start and end, and leaves decoding to the caller.
// Validity is what makes it short; it still never reads out of bounds.
type scanner struct {
	b []byte
	i int
	// secrets are removed from what describe quotes.
	secrets []string
	// quiet makes describe name kinds without quoting values.
	quiet bool
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return s.b[s.i]
		}
	}
	return 0
}

// next moves past a separating comma and returns the byte after it; a
// closing '}' or ']' is consumed too. Inside an object or array, the
// result is the next key or value, or the closing delimiter.
func (s *scanner) next() byte {
	c := s.peek()
	if c == ',' {
		s.i++
		c = s.peek()
	}
	if c == '}' || c == ']' || c == 0 {
		s.i++
	}
	return c
}

// key reads an object key and the colon after it.
func (s *scanner) key() string {
	k := decodeString(s.value())
	if s.peek() == ':' {
		s.i++
	}
	return k
}

// value returns the raw bytes of the value that starts at the next
// non-space byte, and moves past it.
func (s *scanner) value() []byte {
	s.peek()
	start := s.i
	if s.i >= len(s.b) {
		return []byte("null") // unreachable in valid JSON
	}
	switch s.b[s.i] {
	case '"':
		s.skipString()
	case '{', '[':
		for depth := 0; s.i < len(s.b); {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) && !endsLiteral(s.b[s.i]) {
			s.i++
		}
	}
	return s.b[start:s.i]
}

func endsLiteral(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}', ':':
		return true
	}
	return false
}

// skipString moves past the string that starts at s.i.
func (s *scanner) skipString() {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++ // the escaped byte cannot end the string
		case '"':
			s.i++
			return
		}
	}
}

// describe names the kind of the value at the next byte, for errors.
func (s *scanner) describe() string {
	switch s.peek() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 0:
		return "an empty body"
	}
	save := s.i
	raw := s.value()
	s.i = save
	return describeScalar(raw, s.secrets, s.quiet)
}

// describeScalar names a JSON scalar for a reason or an error, quoting it
// unless quiet.
func describeScalar(raw []byte, secrets []string, quiet bool) string {
	switch {
	case raw[0] == 'n':
		return "null"
	case raw[0] == 't' || raw[0] == 'f':
		return "boolean " + string(raw)
	case raw[0] == '"' && quiet:
		return "a string"
	case raw[0] == '"':
		return "string " + quote(decodeString(raw), secrets)
	case quiet:
		return "a number"
	}
	return "number " + safetext.Cut(string(raw), valueBytes, secrets...)
}

// agents reads the "value" array, one element at a time.
func (s *scanner) agents(each func(int, []member, string) error) error {
	if c := s.peek(); c != '[' {
		return fmt.Errorf(`want "value" to be an array, got %s`, s.describe())
	}
	members := make([]member, 0, 16)
	s.i++
	for index := 0; ; index++ {
		var err error
		switch c := s.next(); c {
		case ']':
			return nil
		case 0:
			return errors.New("unexpected end of body") // unreachable in valid JSON
		case '{':
			members = members[:0]
			s.i++
			for {
				if c := s.next(); c == '}' || c == 0 {
					break
				}
				key := s.key()
				members = append(members, member{key: key, value: s.value()})
			}
			err = each(index, members, "")
		case '[':
			s.value()
			err = each(index, nil, "an array, not an object")
		default:
			err = each(index, nil, describeScalar(s.value(), s.secrets, s.quiet)+", not an object")
		}
		if err != nil {
			return err
		}
	}
}

// standardJSON returns body as valid standard JSON: without a UTF-8 byte
// order mark, and standardized by hujson when it is not standard already.
// Its error is a *syntaxError.
func standardJSON(body []byte) ([]byte, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if json.Valid(body) {
		return body, nil
	}
	// The vendor's own bodies end arrays with a comma: dropping those is
	// one pass, where hujson parses the whole body into a tree.
	if fixed, ok := withoutTrailingCommas(body); ok && json.Valid(fixed) {
		return fixed, nil
	}
	// Standardize reports where the body stops making sense, which names a
	// truncation ("unexpected EOF") or an HTML page.
	out, err := hujson.Standardize(body)
	if err != nil {
		e := &syntaxError{err: err}
		if m := hujsonPosition.FindStringSubmatch(err.Error()); m != nil {
			e.line, _ = strconv.Atoi(m[1])
			e.column, _ = strconv.Atoi(m[2])
		}
		return nil, e
	}
	return out, nil
}

// withoutTrailingCommas returns a copy of body with every trailing comma
// (outside strings, after a value, before only whitespace and a closing
// ']' or '}') replaced by a space, and whether it found any. A comma with
// no value before it ("[,]") is left for hujson to refuse.
func withoutTrailingCommas(body []byte) ([]byte, bool) {
	var out []byte
	inString := false
	var last byte // the last byte outside whitespace, strings included
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case inString && c == '\\':
			i++
			continue
		case c == '"':
			inString = !inString
		case inString:
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == ',' && last != 0 && last != '[' && last != '{' && last != ',' && last != ':':
			j := i + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			if j < len(body) && (body[j] == ']' || body[j] == '}') {
				if out == nil {
					out = bytes.Clone(body)
				}
				out[i] = ' '
				continue // the comma is gone: the value before it stays last
			}
		}
		last = c
	}
	return out, out != nil
}

// hujsonPosition finds where hujson says a body stops being JSON.
var hujsonPosition = regexp.MustCompile(`^hujson: line (\d+), column (\d+): `)

// syntaxError is a body that is not JSON, even once trailing commas and
// comments are removed.
type syntaxError struct {
	line, column int // 0 when the parser did not say
	err          error
}

// Error is the parser's message, which may quote the body.
func (e *syntaxError) Error() string { return e.err.Error() }

func (e *syntaxError) Unwrap() error { return e.err }

// unquoted describes the error by its position only, quoting nothing of
// the body.
func (e *syntaxError) unquoted() string {
	if e.line == 0 {
		return "not valid JSON, even without trailing commas"
	}
	return fmt.Sprintf("not valid JSON, even without trailing commas: it breaks at line %d, column %d", e.line, e.column)
}

// notQuoted stands for the start of a body that an error does not quote.
const notQuoted = "(not quoted: it may carry credentials)"

// unquotedParseError shows a decodePage error of a quiet decoding: a
// syntax error by its position only; the scanner's own errors quote
// nothing when quiet.
func unquotedParseError(err error) string {
	var se *syntaxError
	if errors.As(err, &se) {
		return se.unquoted()
	}
	return err.Error()
}

// objectMembers returns the members of raw, a JSON object known to be
// valid (a value inside a decoded page), in the order sent. Their values
// are slices of raw.
func objectMembers(raw []byte) []member {
	s := &scanner{b: raw}
	if s.peek() != '{' {
		return nil
	}
	s.i++
	var members []member
	for {
		if c := s.next(); c == '}' || c == 0 {
			return members
		}
		key := s.key()
		members = append(members, member{key: key, value: s.value()})
	}
}

// arrayValues returns the elements of raw, a JSON array known to be
// valid, as raw values (slices of raw).
func arrayValues(raw []byte) []json.RawMessage {
	s := &scanner{b: raw}
	if s.peek() != '[' {
		return nil
	}
	s.i++
	var values []json.RawMessage
	for {
		if c := s.next(); c == ']' || c == 0 {
			return values
		}
		values = append(values, s.value())
	}
}
