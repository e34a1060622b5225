// Package credential recognizes the members of the Defender API's JSON
// whose names say they may hold a credential (password, apiKey,
// communityString, ...), and removes them, at any depth, from what an
// agent or a scan definition keeps beyond its documented fields. The
// extractor applies it before anything is stored, logged or printed; the
// simulated tenant applies it to say what a record should keep. It is a
// leaf package so that both share the one rule.
package credential

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// nameParts are texts that make a member name a credential's wherever
// they appear in it, in any case: adminPassword, client_secret,
// accessToken, communityString, KeyVaultSecretName.
var nameParts = []string{
	"password", "passwd", "passphrase", "secret", "token", "credential",
	"community", "certificate", "connectionstring",
	// scanAuthenticationParams in any form or version: a container of
	// credentials.
	"authparams", "authenticationparams",
}

// nameWords are words that make a member name a credential's when the
// name has them as a word of its own (apiKey, private_key, SSHKey,
// adminPwd), and not merely as letters of a longer word (monkey,
// keyboardLayout, passport).
var nameWords = []string{"key", "keys", "pwd", "pass"}

// keyCompounds are run-together spellings of such words (apikey,
// PRIVATEKEY), which no word boundary splits.
var keyCompounds = []string{
	"apikey", "privatekey", "publickey", "accesskey", "secretkey", "sshkey", "authkey",
	"signingkey", "encryptionkey", "masterkey", "sharedkey", "subscriptionkey", "licensekey",
}

// Name reports whether a member called name may hold a credential: it
// contains password, passwd, passphrase, secret, token, credential,
// community, certificate or connectionString anywhere, or key, keys, pwd
// or pass as a word of its own (apiKey, private_key, SSHKey, adminPwd),
// in any case. No documented field of an agent, a definition or a
// session is such a name, except scanAuthenticationParams, which the
// extractor reads as a documented field before this rule applies.
func Name(name string) bool {
	// Separators do not split these texts: client_secret, connection-string.
	squashed := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || r == ' ' {
			return -1
		}
		return unicode.ToLower(r)
	}, name)
	for _, part := range nameParts {
		if strings.Contains(squashed, part) {
			return true
		}
	}
	for _, c := range keyCompounds {
		if strings.Contains(squashed, c) {
			return true
		}
	}
	for _, w := range words(name) {
		if slices.Contains(nameWords, w) {
			return true
		}
	}
	return false
}

// words splits a member name into lower-case words: at any character
// that is not a letter or a digit, between a lower-case letter and an
// upper-case one (apiKey), before the last capital of a run followed by a
// lower-case letter (SSHKey), and between letters and digits.
func words(name string) []string {
	var out []string
	rs := []rune(name)
	start := 0
	flush := func(end int) {
		if end > start {
			out = append(out, strings.ToLower(string(rs[start:end])))
		}
		start = end
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			start = i + 1
			continue
		}
		if i == start {
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsUpper(r) && unicode.IsLower(prev),
			unicode.IsDigit(r) != unicode.IsDigit(prev),
			unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			flush(i)
		}
	}
	flush(len(rs))
	return out
}

// Strip returns raw, a valid JSON value, without the object members whose
// names Name reports, at any depth (inside arrays too), and the paths of
// what it removed, each under path: "settings.apiKey", "hosts[].password".
// When nothing is removed raw itself is returned. Members are kept in the
// order sent; a value that is rewritten is re-encoded, so its spacing and
// string escapes may change, never its meaning.
func Strip(raw json.RawMessage, path string) (json.RawMessage, []string) {
	if !mayHold(raw) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	var removed []string
	if err := strip(dec, &out, path, &removed); err != nil {
		// Unreachable for valid JSON; fail closed all the same.
		return json.RawMessage("null"), []string{path}
	}
	if len(removed) == 0 {
		return raw, nil
	}
	return out.Bytes(), removed
}

// Members removes from extra, the members of a record beyond its
// documented fields, those whose names Name reports, and strips the
// others (see Strip). With dropObject set, a member it reports true for
// is removed too when its value is an object: the scan definitions keep
// no undocumented object, whatever its members are called. It returns
// the names of what it removed, sorted, each with its path.
func Members(extra map[string]json.RawMessage, dropObject func(name string) bool) []string {
	var removed []string
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		v := extra[name]
		if Name(name) || (dropObject != nil && isObject(v) && dropObject(name)) {
			delete(extra, name)
			removed = append(removed, name)
			continue
		}
		if clean, sub := Strip(v, name); len(sub) > 0 {
			extra[name] = clean
			removed = append(removed, sub...)
		}
	}
	return removed
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// mayHold reports whether raw may hold a member Strip removes: an object
// with a name holding one of the texts Name looks for, or a name it
// cannot see for escapes. Most values, which have none, are kept without
// being decoded.
func mayHold(raw []byte) bool {
	if bytes.IndexByte(raw, '{') < 0 {
		return false
	}
	if bytes.Contains(raw, []byte(`\u`)) {
		return true
	}
	lower := bytes.ToLower(raw)
	for _, s := range []string{"pass", "pwd", "secret", "token", "key", "credential", "communit", "certificate", "connectionstring", "authparams", "authenticationparams"} {
		if bytes.Contains(lower, []byte(s)) {
			return true
		}
	}
	return false
}

// strip copies the next JSON value of dec to out, without the members
// Name reports, recording their paths.
func strip(dec *json.Decoder, out *bytes.Buffer, path string, removed *[]string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		out.WriteByte('{')
		first := true
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			if Name(key) {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
				*removed = append(*removed, join(path, key))
				continue
			}
			if !first {
				out.WriteByte(',')
			}
			first = false
			writeScalar(out, key)
			out.WriteByte(':')
			if err := strip(dec, out, join(path, key), removed); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return err
		}
		out.WriteByte('}')
	case json.Delim('['):
		out.WriteByte('[')
		for i := 0; dec.More(); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := strip(dec, out, path+"[]", removed); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return err
		}
		out.WriteByte(']')
	default:
		writeScalar(out, tok)
	}
	return nil
}

func writeScalar(out *bytes.Buffer, v any) {
	if n, ok := v.(json.Number); ok {
		out.WriteString(n.String())
		return
	}
	b, _ := json.Marshal(v) // a string, a bool or nil: never fails
	out.Write(b)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
