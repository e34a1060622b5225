package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agentsync/agentsync/internal/safetext"
)

// decodePageReference is decodePage written with encoding/json's token
// decoder: slower, but obviously right. FuzzDecodePage checks that the two
// agree on every body.
func decodePageReference(body []byte, each func(index int, members []member, notObject string) error) (nextLink string, err error) {
	// The same standardization as decodePage: the reference checks the
	// scanner, which starts from valid JSON.
	if body, err = standardJSON(body); err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := referenceExpectDelim(dec, '{', "a JSON object"); err != nil {
		return "", err
	}
	sawValue := false
	for dec.More() {
		key, err := referenceKey(dec)
		if err != nil {
			return "", err
		}
		switch strings.ToLower(key) {
		case "value":
			if sawValue {
				return "", errors.New(`two "value" members`)
			}
			sawValue = true
			if err := referenceAgents(dec, each); err != nil {
				return "", err
			}
		case "@odata.nextlink", "odata.nextlink":
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return "", err
			}
			switch raw[0] {
			case 'n':
				nextLink = ""
			case '"':
				nextLink = decodeString(raw)
			default:
				return "", fmt.Errorf("@odata.nextLink is %s, not a string", safetext.Cut(string(raw), valueBytes))
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return "", err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return "", err
	}
	if !sawValue {
		// Never read a body without "value" as an empty page: an empty
		// listing makes the loader delete every agent.
		return "", errors.New(`no "value" array`)
	}
	return nextLink, nil
}

// decodeAgents reads the "value" array, one element at a time.
func referenceAgents(dec *json.Decoder, each func(int, []member, string) error) error {
	if err := referenceExpectDelim(dec, '[', `"value" to be an array`); err != nil {
		return err
	}
	members := make([]member, 0, 16)
	for index := 0; dec.More(); index++ {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			members = members[:0]
			for dec.More() {
				key, err := referenceKey(dec)
				if err != nil {
					return err
				}
				var value json.RawMessage // a fresh one: Decode appends to it
				if err := dec.Decode(&value); err != nil {
					return err
				}
				members = append(members, member{key: key, value: value})
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			err = each(index, members, "")
		case json.Delim('['):
			if err := referenceSkip(dec); err != nil {
				return err
			}
			err = each(index, nil, "an array, not an object")
		default:
			err = each(index, nil, fmt.Sprintf("%s, not an object", referenceDescribe(tok)))
		}
		if err != nil {
			return err
		}
	}
	_, err := dec.Token() // the closing bracket
	return err
}

func referenceExpectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err == io.EOF {
		return fmt.Errorf("want %s, got an empty body", what)
	}
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %s, got %s", what, referenceDescribe(tok))
	}
	return nil
}

func referenceKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok { // unreachable with encoding/json, which checks syntax
		return "", fmt.Errorf("want an object key, got %s", referenceDescribe(tok))
	}
	return key, nil
}

// skipComposite consumes the rest of an array or object whose opening
// delimiter was just read.
func referenceSkip(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func referenceDescribe(tok json.Token) string {
	switch tok := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean %t", tok)
	case float64:
		return fmt.Sprintf("number %v", tok)
	case string:
		return "string " + quote(tok, nil)
	case json.Delim:
		switch tok {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(tok))
	}
	return fmt.Sprintf("%v", tok)
}
