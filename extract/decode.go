package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/tailscale/hujson"

	"github.com/agentsync/agentsync/internal/safetext"
)

// utf8BOM is skipped at the start of a body; some gateways add it.
var utf8BOM = []byte("\xef\xbb\xbf")

// decodeOptions read JSON as the API's bodies need: an object may repeat a
// member (the normalizer warns and takes the last one), and a string may
// hold invalid UTF-8 (cleanString replaces it), as encoding/json allows.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

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
	d := newDecoder(body, quiet, secrets)
	if kind := d.dec.PeekKind(); kind != '{' {
		what, err := d.describe()
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("want a JSON object, got %s", what)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return "", err
	}
	sawValue := false
	for d.dec.PeekKind() != '}' {
		key, err := d.key()
		if err != nil {
			return "", err
		}
		switch strings.ToLower(key) {
		case "value":
			if sawValue {
				return "", errors.New(`two "value" members`)
			}
			sawValue = true
			if err := d.agents(each); err != nil {
				return "", err
			}
		case "@odata.nextlink", "odata.nextlink":
			raw, err := d.value()
			if err != nil {
				return "", err
			}
			switch raw[0] {
			case 'n':
				nextLink = ""
			case '"':
				// As encoding/json reads it: each byte of invalid UTF-8
				// is U+FFFD (and such a link fails the checks of a link).
				nextLink = validUTF8(decodeString(raw))
			default:
				if d.quiet {
					return "", errors.New("@odata.nextLink is not a string")
				}
				return "", fmt.Errorf("@odata.nextLink is %s, not a string", safetext.Cut(string(raw), valueBytes, d.secrets...))
			}
		default:
			if err := d.dec.SkipValue(); err != nil {
				return "", err
			}
		}
	}
	if !sawValue {
		// Never read a body without "value" as an empty page: an empty
		// listing makes the loader delete every agent.
		return "", errors.New(`no "value" array`)
	}
	return nextLink, nil
}

// decoder reads a body known to be valid JSON with jsontext, handing out
// values as slices of the body: they stay valid after the decoder moves on
// (jsontext's own are valid until its next read).
type decoder struct {
	dec  *jsontext.Decoder
	body []byte
	// secrets are removed from what describe quotes.
	secrets []string
	// quiet makes describe name kinds without quoting values.
	quiet bool
}

func newDecoder(body []byte, quiet bool, secrets []string) *decoder {
	// A bytes.Buffer lets jsontext read the body in place, without a copy.
	return &decoder{dec: jsontext.NewDecoder(bytes.NewBuffer(body), decodeOptions...), body: body, secrets: secrets, quiet: quiet}
}

// value reads the next value (or object name) and returns its bytes.
func (d *decoder) value() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	end := d.dec.InputOffset()
	return d.body[end-int64(len(v)) : end], nil
}

// key reads an object member's name.
func (d *decoder) key() (string, error) {
	raw, err := d.value()
	if err != nil {
		return "", err
	}
	return decodeString(raw), nil
}

// members reads the object that starts at the next value, its members in
// the order sent, appended to members.
func (d *decoder) members(members []member) ([]member, error) {
	if _, err := d.dec.ReadToken(); err != nil { // '{'
		return nil, err
	}
	for d.dec.PeekKind() != '}' {
		key, err := d.key()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		members = append(members, member{key: key, value: v})
	}
	_, err := d.dec.ReadToken() // '}'
	return members, err
}

// describe names the kind of the next value, for errors, and reads it.
func (d *decoder) describe() (string, error) {
	switch d.dec.PeekKind() {
	case '{':
		return "an object", nil
	case '[':
		return "an array", nil
	case 0:
		return "an empty body", nil
	}
	raw, err := d.value()
	if err != nil {
		return "", err
	}
	return describeScalar(raw, d.secrets, d.quiet), nil
}

// agents reads the "value" array, one element at a time.
func (d *decoder) agents(each func(int, []member, string) error) error {
	if kind := d.dec.PeekKind(); kind != '[' {
		what, err := d.describe()
		if err != nil {
			return err
		}
		return fmt.Errorf(`want "value" to be an array, got %s`, what)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return err
	}
	members := make([]member, 0, 16)
	for index := 0; ; index++ {
		var err error
		switch d.dec.PeekKind() {
		case ']':
			_, err := d.dec.ReadToken()
			return err
		case '{':
			if members, err = d.members(members[:0]); err != nil {
				return err
			}
			err = each(index, members, "")
		case '[':
			if err := d.dec.SkipValue(); err != nil {
				return err
			}
			err = each(index, nil, "an array, not an object")
		default:
			raw, rerr := d.value()
			if rerr != nil {
				return rerr
			}
			err = each(index, nil, describeScalar(raw, d.secrets, d.quiet)+", not an object")
		}
		if err != nil {
			return err
		}
	}
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

// standardJSON returns body as valid standard JSON: without a UTF-8 byte
// order mark, and standardized by hujson when it is not standard already.
// Its error is a *syntaxError.
func standardJSON(body []byte) ([]byte, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if jsontext.Value(body).IsValid(decodeOptions...) {
		return body, nil
	}
	// The vendor's own bodies end arrays with a comma: dropping those is
	// one pass, where hujson parses the whole body into a tree.
	if fixed, ok := withoutTrailingCommas(body); ok && jsontext.Value(fixed).IsValid(decodeOptions...) {
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
		if inString {
			// To the string's closing quote, or to its next escape: a
			// body is mostly strings, searched for those two bytes alone.
			rest := body[i:]
			q := bytes.IndexByte(rest, '"')
			if q < 0 {
				break
			}
			if e := bytes.IndexByte(rest[:q], '\\'); e >= 0 {
				i += e + 1 // the loop steps over the escaped byte
				continue
			}
			i += q
			inString, last = false, '"'
			continue
		}
		c := body[i]
		switch {
		case c == '"':
			inString = true
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
// syntax error by its position only; the decoder's own errors quote
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
	d := newDecoder(raw, true, nil)
	if d.dec.PeekKind() != '{' {
		return nil
	}
	members, err := d.members(nil)
	if err != nil {
		return nil // unreachable: raw is valid
	}
	return members
}

// arrayValues returns the elements of raw, a JSON array known to be
// valid, as raw values (slices of raw).
func arrayValues(raw []byte) []json.RawMessage {
	d := newDecoder(raw, true, nil)
	if d.dec.PeekKind() != '[' {
		return nil
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil
	}
	var values []json.RawMessage
	for d.dec.PeekKind() != ']' {
		v, err := d.value()
		if err != nil {
			return nil // unreachable: raw is valid
		}
		values = append(values, v)
	}
	return values
}

// validUTF8 returns s with each byte of invalid UTF-8 replaced by U+FFFD,
// as encoding/json decodes a string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune { return r }, s)
}
